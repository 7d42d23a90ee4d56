package consul

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/kvmirror/kvmirror/kvstore"
)

// kvmirror keeps its bookkeeping in the Flags of Consul's entries. The high bits say what the
// session holding an entry is for, so that a later write knows what to do with it: a TTL's
// session is released (or replaced) by a new write, a lock's must stay. Bit 0 changes with every
// write: Consul ignores a write that changes nothing, and a same-value write must still be one.
const (
	flagTTL    uint64 = 0x6b766d2d74746c00 // "kvm-ttl"
	flagLock   uint64 = 0x6b766d6c6f636b00 // "kvmlock"
	flagToggle uint64 = 1
)

// kindOf is what flags say the entry's session is for: flagTTL, flagLock, or anything else.
func kindOf(flags uint64) uint64 { return flags &^ flagToggle }

// flagsOver returns the Flags for writing an entry of kind over cur (nil: absent).
func flagsOver(kind uint64, cur *api.KVPair) uint64 {
	if cur == nil {
		return kind
	}
	return kind | (cur.Flags&flagToggle ^ flagToggle)
}

// maxWriteAttempts bounds the read-then-transaction rounds of one write under contention.
const maxWriteAttempts = 50

// maxKeyTTL is the longest key TTL Consul can honour: its session TTL is at most 24h and lapses
// after twice that.
const maxKeyTTL = sessionMultiplier * maxSessionTTL

// Put writes value at key. With a TTL the key is held by a fresh session that is never renewed
// and deletes it when it lapses; a write without TTL releases such a session, so the key becomes
// permanent. A key held by a lock keeps its lock (and a TTL there is ErrCallNotSupported: the
// key cannot be held by the lock's session and a TTL's at once).
func (s *Store) Put(ctx context.Context, key string, value []byte, opts *kvstore.WriteOptions) error {
	ctx, key, leave, err := s.enterKey(ctx, key)
	if err != nil {
		return err
	}
	defer leave()
	ttl, err := checkTTL(opts)
	if err != nil {
		return err
	}
	if _, err := s.put(ctx, key, value, ttl, expectAny, 0); err != nil {
		return fmt.Errorf("consul: put %q: %w", key, err)
	}
	return nil
}

// AtomicPut writes value at key if it is as previous says (nil: absent). The precondition and
// the write run in one Consul transaction.
func (s *Store) AtomicPut(ctx context.Context, key string, value []byte, previous *kvstore.KVPair, opts *kvstore.WriteOptions) (bool, *kvstore.KVPair, error) {
	ctx, key, leave, err := s.enterKey(ctx, key)
	if err != nil {
		return false, nil, err
	}
	defer leave()
	ttl, err := checkTTL(opts)
	if err != nil {
		return false, nil, err
	}
	expect, index := expectAbsent, uint64(0)
	if previous != nil {
		expect, index = expectIndex, previous.LastIndex
	}
	pair, err := s.put(ctx, key, value, ttl, expect, index)
	if err != nil {
		return false, nil, fmt.Errorf("consul: atomic put %q: %w", key, err)
	}
	return true, pair, nil
}

// AtomicDelete deletes key if its index is previous.LastIndex. The existence check and the
// conditional delete run in one transaction, which tells a missing key from a changed one.
func (s *Store) AtomicDelete(ctx context.Context, key string, previous *kvstore.KVPair) (bool, error) {
	ctx, key, leave, err := s.enterKey(ctx, key)
	if err != nil {
		return false, err
	}
	defer leave()
	if previous == nil {
		return false, fmt.Errorf("consul: atomic delete %q: %w", key, kvstore.ErrPreviousNotSpecified)
	}
	_, err = s.txn(ctx, api.KVTxnOps{
		{Verb: api.KVGet, Key: key},
		{Verb: api.KVDeleteCAS, Key: key, Index: previous.LastIndex},
	})
	switch failedOp(err) {
	case 0:
		err = kvstore.ErrKeyNotFound
	case 1:
		err = kvstore.ErrKeyModified
	}
	if err != nil {
		return false, fmt.Errorf("consul: atomic delete %q: %w", key, err)
	}
	return true, nil
}

func checkTTL(opts *kvstore.WriteOptions) (time.Duration, error) {
	ttl, err := kvstore.CheckWrite(opts)
	if err == nil && ttl > maxKeyTTL {
		err = fmt.Errorf("%w: TTL %s is over Consul's maximum of %s", kvstore.ErrInvalidOption, ttl, maxKeyTTL)
	}
	return ttl, err
}

// expectation is what a write requires of the key before it.
type expectation int

const (
	expectAny    expectation = iota // Put
	expectAbsent                    // AtomicPut with no previous pair
	expectIndex                     // AtomicPut with a previous pair
)

// put reads the key, plans a transaction from what it found, and runs it guarded by the index it
// read; when the key changed in between, it reads again. The read also tells which session (a
// TTL's, a lock's) holds the key, which Consul's plain writes would otherwise keep.
func (s *Store) put(ctx context.Context, key string, value []byte, ttl time.Duration, expect expectation, index uint64) (*kvstore.KVPair, error) {
	var ttlSession string
	defer func() {
		if ttlSession != "" {
			_ = s.destroySession(context.WithoutCancel(ctx), ttlSession)
		}
	}()
	for range maxWriteAttempts {
		cur, err := s.get(ctx, key, false)
		if err != nil {
			return nil, err
		}
		if err := expect.check(cur, index); err != nil {
			return nil, err
		}
		if ttl > 0 && ttlSession == "" {
			if ttlSession, _, err = s.createSession(ctx, "kvmirror-ttl", ttl); err != nil {
				return nil, err
			}
		}
		ops, err := writeOps(key, value, cur, ttlSession)
		if err != nil {
			return nil, err
		}
		entries, err := s.txn(ctx, ops)
		switch {
		case err == nil:
			used := ttlSession
			ttlSession = ""
			s.dropReplacedSession(ctx, cur, used)
			return written(key, value, entries)
		case failedForSession(err):
			ttlSession = "" // lapsed before use: Consul has deleted it already
		case failedOp(err) < 0:
			return nil, err
		}
	}
	return nil, errors.New("consul: the key kept changing between read and write")
}

func (e expectation) check(cur *api.KVPair, index uint64) error {
	switch {
	case e == expectAbsent && cur != nil:
		return kvstore.ErrKeyExists
	case e == expectIndex && cur == nil:
		return kvstore.ErrKeyNotFound
	case e == expectIndex && cur.ModifyIndex != index:
		return kvstore.ErrKeyModified
	}
	return nil
}

// writeOps plans the transaction that writes value over cur (nil: absent), guarded so that it
// fails if the key changed since it was read. ttlSession, when set, is the session that will hold
// the key so it expires.
func writeOps(key string, value []byte, cur *api.KVPair, ttlSession string) (api.KVTxnOps, error) {
	ops := api.KVTxnOps{{Verb: api.KVCheckNotExists, Key: key}}
	if cur != nil {
		ops[0] = &api.KVTxnOp{Verb: api.KVCheckIndex, Key: key, Index: cur.ModifyIndex}
	}
	value = nonNil(value)
	switch {
	case cur != nil && cur.Session != "" && kindOf(cur.Flags) != flagTTL:
		if ttlSession != "" {
			return nil, fmt.Errorf("%w: the key is held by a lock (session %s), which a TTL cannot replace", kvstore.ErrCallNotSupported, cur.Session)
		}
		// A plain set keeps the holder's session: the lock stays held.
		return append(ops, &api.KVTxnOp{Verb: api.KVSet, Key: key, Value: value, Flags: flagsOver(kindOf(cur.Flags), cur)}), nil
	case cur != nil && cur.Session != "":
		// Release the previous TTL's session; the write below makes the key permanent or gives it
		// the new TTL.
		ops = append(ops, &api.KVTxnOp{Verb: api.KVUnlock, Key: key, Value: value, Session: cur.Session, Flags: flagsOver(0, cur)})
		if ttlSession == "" {
			return ops, nil
		}
	}
	if ttlSession != "" {
		return append(ops, &api.KVTxnOp{Verb: api.KVLock, Key: key, Value: value, Session: ttlSession, Flags: flagsOver(flagTTL, cur)}), nil
	}
	return append(ops, &api.KVTxnOp{Verb: api.KVSet, Key: key, Value: value, Flags: flagsOver(0, cur)}), nil
}

// dropReplacedSession destroys the TTL session a write released, rather than leaving it to lapse:
// a key rewritten often would otherwise pile up sessions on the servers. It holds nothing any
// more, so destroying it deletes nothing; a failure is harmless.
func (s *Store) dropReplacedSession(ctx context.Context, replaced *api.KVPair, used string) {
	if replaced == nil || replaced.Session == "" || kindOf(replaced.Flags) != flagTTL || replaced.Session == used {
		return
	}
	_ = s.destroySession(context.WithoutCancel(ctx), replaced.Session)
}

// written is the pair a successful write transaction produced.
func written(key string, value []byte, entries []*api.KVPair) (*kvstore.KVPair, error) {
	e := lastEntry(entries)
	if e == nil || e.ModifyIndex == 0 {
		return nil, errors.New("consul: the transaction reported no index for the written key")
	}
	return &kvstore.KVPair{Key: key, Value: nonNil(value), LastIndex: e.ModifyIndex}, nil
}

func nonNil(value []byte) []byte {
	if value == nil {
		return []byte{}
	}
	return value
}
