package boltdb

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Layout of a file. User data lives in the bucket named by Config.Bucket and nowhere else, so
// List never meets bookkeeping. Everything kvmirror keeps for itself lives in one internal bucket
// whose name starts with a NUL byte, which no sensible Config.Bucket does (New refuses it):
//
//	<Config.Bucket>/<key>                        record: format, index, deadline, value
//	\x00kvmirror/index                           the file's index counter (8 bytes, big endian)
//	\x00kvmirror/buckets/<Config.Bucket>/expiry  <deadline><key> -> empty: keys by expiry time
//	\x00kvmirror/buckets/<Config.Bucket>/locks   <key> -> lock record: holder id, deadline
//
// The counter is per file, not per bucket, so one comparison tells the sweeper whether another
// process wrote anything since this one last looked.
var (
	metaBucket    = []byte("\x00kvmirror")
	indexKey      = []byte("index")
	bucketsBucket = []byte("buckets")
	expiryBucket  = []byte("expiry")
	locksBucket   = []byte("locks")
)

// recordFormat is the first byte of every record, so that a later layout can be told apart from
// this one in files that outlive a kvmirror version.
const recordFormat = 1

const (
	recordHeader = 1 + 8 + 8
	holderIDSize = 16
	lockSize     = holderIDSize + 8
)

// record is a stored value with its index and its expiry deadline (zero: never expires).
type record struct {
	index    uint64
	deadline time.Time
	value    []byte
}

func (r record) expired(now time.Time) bool {
	return !r.deadline.IsZero() && !now.Before(r.deadline)
}

func encodeRecord(r record) []byte {
	b := make([]byte, recordHeader+len(r.value))
	b[0] = recordFormat
	binary.BigEndian.PutUint64(b[1:], r.index)
	binary.BigEndian.PutUint64(b[9:], encodeTime(r.deadline))
	copy(b[recordHeader:], r.value)
	return b
}

// decodeRecord copies the value out: bolt's memory is only valid inside the transaction.
func decodeRecord(b []byte) (record, error) {
	if len(b) < recordHeader || b[0] != recordFormat {
		return record{}, fmt.Errorf("boltdb: corrupt record (%d bytes, format %d)", len(b), firstByte(b))
	}
	return record{
		index:    binary.BigEndian.Uint64(b[1:]),
		deadline: decodeTime(binary.BigEndian.Uint64(b[9:])),
		value:    append([]byte{}, b[recordHeader:]...),
	}, nil
}

// lockRecord is who holds a lock and until when, unless renewed.
type lockRecord struct {
	holder   holderID
	deadline time.Time
}

type holderID [holderIDSize]byte

func encodeLock(l lockRecord) []byte {
	b := make([]byte, lockSize)
	copy(b, l.holder[:])
	binary.BigEndian.PutUint64(b[holderIDSize:], encodeTime(l.deadline))
	return b
}

func decodeLock(b []byte) (lockRecord, error) {
	if len(b) != lockSize {
		return lockRecord{}, fmt.Errorf("boltdb: corrupt lock record (%d bytes)", len(b))
	}
	var l lockRecord
	copy(l.holder[:], b)
	l.deadline = decodeTime(binary.BigEndian.Uint64(b[holderIDSize:]))
	return l, nil
}

// expiryKey sorts by deadline first, so the sweeper finds everything due with one cursor walk
// from the start and the next deadline in the first entry left.
func expiryKey(deadline time.Time, key string) []byte {
	b := make([]byte, 8+len(key))
	binary.BigEndian.PutUint64(b, encodeTime(deadline))
	copy(b[8:], key)
	return b
}

func decodeExpiryKey(b []byte) (time.Time, string) {
	if len(b) < 8 {
		return time.Time{}, ""
	}
	return decodeTime(binary.BigEndian.Uint64(b)), string(b[8:])
}

func encodeIndex(i uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, i)
}

func decodeIndex(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// Deadlines are wall-clock Unix nanoseconds, because they must mean the same thing to another
// process and after a restart; 0 means none.
func encodeTime(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return uint64(t.UnixNano())
}

func decodeTime(n uint64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(n))
}

func firstByte(b []byte) int {
	if len(b) == 0 {
		return -1
	}
	return int(b[0])
}
