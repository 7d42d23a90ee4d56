package etcdv2

import (
	"context"
	"errors"
	"fmt"
	"time"

	client "go.etcd.io/etcd/client/v2"

	"github.com/kvmirror/kvmirror/kvstore"
)

// Put implements kvstore.Store. A TTL is etcd's own, rounded up to whole seconds (the v2 API
// counts in seconds); a Put without TTL replaces the node by a permanent one. A key that is a
// plain v2 file is updated in place and stays one; a new key is always written in kvmirror's
// layout.
func (s *Store) Put(ctx context.Context, key string, value []byte, opts *kvstore.WriteOptions) error {
	canonical, err := s.normalize(key)
	if err != nil {
		return err
	}
	ttl, err := kvstore.CheckWrite(opts)
	if err != nil {
		return err
	}
	return s.call(ctx, "put", canonical, func(ctx context.Context) error {
		_, _, err := s.setValue(ctx, canonical, encodeValue(value), seconds(ttl))
		return err
	})
}

// setValue writes the value of a canonical key whatever its form, as Put does, and returns the
// response and whether the key is a plain file. Locks write their key with it too.
func (s *Store) setValue(ctx context.Context, canonical, value string, ttl time.Duration) (*client.Response, bool, error) {
	return s.onFile(ctx, canonical, true, func(file string, plain bool) (*client.Response, error) {
		set := &client.SetOptions{TTL: ttl}
		if plain {
			// Only while the file is there: should it go meanwhile, the key is written
			// again in the layout rather than left a plain file that no one asked for.
			set.PrevExist = client.PrevExist
		}
		return s.keys.Set(ctx, file, value, set)
	})
}

// shapeRetries bounds how often a call starts again because the key's node turned from a
// plain file into a directory (or went) between two of its requests: another client deleted
// the file and a Store wrote the key in its layout meanwhile. Each round needs such a change
// by someone else, so a few are plenty.
const shapeRetries = 3

// errReshaped ends a call whose key kept changing form for shapeRetries rounds.
var errReshaped = fmt.Errorf("%w: the key's node kept changing between a plain file and a directory", ErrForeignNode)

// onFile runs op on the file that holds the value of a canonical key: first on its value file
// in kvmirror's layout, which is where nearly every key is, then, when etcd answers that the
// key's node is a plain file, on that file, so that a plain key stays plain for the clients that
// share the tree. When the plain file is a directory by then (or gone, with retryMissing: only
// a Put must then create the key), it starts again. plain tells the caller which file op
// reached; an error from a file above the key (ErrorCodeNotDir) is returned as it is.
func (s *Store) onFile(ctx context.Context, canonical string, retryMissing bool, op func(file string, plain bool) (*client.Response, error)) (resp *client.Response, plain bool, err error) {
	for range shapeRetries {
		resp, err = op(leafPath(canonical), false)
		if !plainAt(err, canonical) {
			return resp, false, err
		}
		s.betweenRequests()
		resp, err = op(nodePath(canonical), true)
		again := isCode(err, client.ErrorCodeNotFile) || retryMissing && isCode(err, client.ErrorCodeKeyNotFound)
		if !again {
			return resp, true, err
		}
	}
	return nil, false, errReshaped
}

func (s *Store) betweenRequests() {
	if s.reshaped != nil {
		s.reshaped()
	}
}

// plainAt reports whether err says that the key itself is a plain file: etcd could not reach
// the key's value file because the node at the key's directory is a file, which etcd names as
// the cause. A file further up is another key, below which this one cannot exist.
func plainAt(err error, canonical string) bool {
	var e client.Error
	return errors.As(err, &e) && e.Code == client.ErrorCodeNotDir && e.Cause == nodePath(canonical)
}

// notFound is etcd's answer for a missing key, for the cases where the Store knows the key is
// missing before etcd says so.
func notFound() error {
	return client.Error{Code: client.ErrorCodeKeyNotFound, Message: "Key not found"}
}

// seconds rounds a TTL up to whole seconds, the v2 API's unit, so that a key never expires
// before its TTL; zero stays zero (no TTL).
func seconds(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		return 0
	}
	return (ttl + time.Second - 1).Truncate(time.Second)
}

// Get implements kvstore.Store. opts.Consistent makes the read a quorum read.
func (s *Store) Get(ctx context.Context, key string, opts *kvstore.ReadOptions) (*kvstore.KVPair, error) {
	canonical, err := s.normalize(key)
	if err != nil {
		return nil, err
	}
	var pair *kvstore.KVPair
	err = s.call(ctx, "get", canonical, func(ctx context.Context) error {
		var err error
		pair, _, err = s.read(ctx, canonical, kvstore.IsConsistent(opts))
		if err == nil && pair == nil {
			return notFound()
		}
		return err
	})
	return pair, err
}

// read returns the pair of a canonical key, nil if it does not exist, and etcd's index at the
// time of the read, from which a watch can follow without missing a write. A plain key costs
// a second request: etcd's answer to the first names the file.
func (s *Store) read(ctx context.Context, canonical string, quorum bool) (*kvstore.KVPair, uint64, error) {
	opts := &client.GetOptions{Quorum: quorum}
	for range shapeRetries {
		resp, err := s.keys.Get(ctx, leafPath(canonical), opts)
		if plainAt(err, canonical) {
			s.betweenRequests()
			resp, err = s.keys.Get(ctx, nodePath(canonical), opts)
			if err == nil && resp.Node.Dir {
				// The file became the key's directory in between: read the layout again.
				continue
			}
		}
		if absent(err) {
			index, _ := errIndex(err)
			return nil, index, nil
		}
		if err != nil {
			return nil, 0, err
		}
		if resp.Node.Dir {
			// Only another v2 client makes a directory named like a value file.
			return nil, resp.Index, nil
		}
		return newPair(canonical, resp.Node), resp.Index, nil
	}
	return nil, 0, errReshaped
}

// absent reports whether a read error means that the key does not exist: not found, a plain
// file above the key (which therefore cannot exist), or a directory where its value file
// belongs.
func absent(err error) bool {
	return isCode(err, client.ErrorCodeKeyNotFound) || isCode(err, client.ErrorCodeNotDir) ||
		isCode(err, client.ErrorCodeNotFile)
}

func newPair(canonical string, node *client.Node) *kvstore.KVPair {
	return &kvstore.KVPair{Key: canonical, Value: decodeValue(node.Value), LastIndex: node.ModifiedIndex}
}

// Exists implements kvstore.Store.
func (s *Store) Exists(ctx context.Context, key string, opts *kvstore.ReadOptions) (bool, error) {
	_, err := s.Get(ctx, key, opts)
	if errors.Is(err, kvstore.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Delete implements kvstore.Store. Only the key's value file goes, or the key's plain file;
// keys below it stay. The directories this leaves empty are removed too, so that keys that come
// and go leave nothing behind.
func (s *Store) Delete(ctx context.Context, key string) error {
	canonical, err := s.normalize(key)
	if err != nil {
		return err
	}
	return s.call(ctx, "delete", canonical, func(ctx context.Context) error {
		return s.remove(ctx, canonical, nil)
	})
}

// remove deletes the file that holds a canonical key, with opts (prevIndex for AtomicDelete),
// then the directories this leaves empty.
func (s *Store) remove(ctx context.Context, canonical string, opts *client.DeleteOptions) error {
	_, plain, err := s.onFile(ctx, canonical, false, func(file string, _ bool) (*client.Response, error) {
		// Never recursive: a directory where the file was is someone's keys, not this one.
		return s.keys.Delete(ctx, file, opts)
	})
	switch {
	case isCode(err, client.ErrorCodeNotDir) || isCode(err, client.ErrorCodeNotFile):
		// A plain file above the key, or a directory where its value file belongs: as Get
		// says, there is no such key.
		return notFound()
	case err != nil:
		return err
	case plain:
		s.prune(ctx, parentDir(nodePath(canonical)), "/")
	default:
		s.prune(ctx, nodePath(canonical), "/")
	}
	return nil
}

// AtomicPut implements kvstore.Store: a create is etcd's prevExist=false, an update its
// prevIndex comparison, both with the TTL of opts. A plain key is compared and updated in
// place; a create finds it there (kvstore.ErrKeyExists) like any key.
func (s *Store) AtomicPut(ctx context.Context, key string, value []byte, previous *kvstore.KVPair, opts *kvstore.WriteOptions) (bool, *kvstore.KVPair, error) {
	canonical, err := s.normalize(key)
	if err != nil {
		return false, nil, err
	}
	ttl, err := kvstore.CheckWrite(opts)
	if err != nil {
		return false, nil, err
	}
	set := &client.SetOptions{TTL: seconds(ttl), PrevExist: client.PrevNoExist}
	if previous != nil {
		set = &client.SetOptions{TTL: seconds(ttl), PrevIndex: previous.LastIndex}
	}
	var pair *kvstore.KVPair
	err = s.call(ctx, "atomic put", canonical, func(ctx context.Context) error {
		if previous != nil && previous.LastIndex == 0 {
			// prevIndex=0 means "no comparison" to etcd; no stored pair has index 0.
			return s.mismatch(ctx, canonical)
		}
		resp, _, err := s.onFile(ctx, canonical, false, func(file string, plain bool) (*client.Response, error) {
			if plain && previous == nil {
				// A create never makes a plain file, and this key exists as one.
				return nil, client.Error{Code: client.ErrorCodeNodeExist, Message: "Key already exists"}
			}
			// Each write has its own etcd index, so a previous pair read from one form of
			// the key never matches the other form.
			return s.keys.Set(ctx, file, encodeValue(value), set)
		})
		if previous != nil && isCode(err, client.ErrorCodeNotDir) {
			// A plain file above the key: the key cannot exist. A create is refused with
			// a PlainFileError instead, as there is a real conflict to report.
			return notFound()
		}
		if err != nil {
			return err
		}
		pair = newPair(canonical, resp.Node)
		return nil
	})
	if err != nil {
		return false, nil, err
	}
	return true, pair, nil
}

// AtomicDelete implements kvstore.Store with etcd's prevIndex comparison, on the key's value
// file or on its plain file.
func (s *Store) AtomicDelete(ctx context.Context, key string, previous *kvstore.KVPair) (bool, error) {
	canonical, err := s.normalize(key)
	if err != nil {
		return false, err
	}
	if previous == nil {
		return false, kvstore.ErrPreviousNotSpecified
	}
	err = s.call(ctx, "atomic delete", canonical, func(ctx context.Context) error {
		if previous.LastIndex == 0 {
			return s.mismatch(ctx, canonical)
		}
		return s.remove(ctx, canonical, &client.DeleteOptions{PrevIndex: previous.LastIndex})
	})
	return err == nil, err
}

// mismatch is the error of an atomic call whose previous pair cannot match: not found when the
// key is missing, modified otherwise.
func (s *Store) mismatch(ctx context.Context, canonical string) error {
	pair, _, err := s.read(ctx, canonical, true)
	switch {
	case err != nil:
		return err
	case pair == nil:
		return notFound()
	default:
		return client.Error{Code: client.ErrorCodeTestFailed, Message: "Compare failed"}
	}
}

// prune removes dir and its ancestors up to, not including, stop, as long as they are empty.
// Without it every deleted key would leave its directory behind for good, and a store whose
// keys come and go would grow without end. It is safe against concurrent writers: etcd deletes
// a directory without recursive=true only while it is empty, atomically, and a write below it
// recreates it. Failures are not the caller's concern: the first one (a directory that is not
// empty, as a rule) ends the walk.
func (s *Store) prune(ctx context.Context, dir, stop string) {
	for ; dir != stop && dir != "/" && dir != "."; dir = parentDir(dir) {
		if _, err := s.keys.Delete(ctx, dir, &client.DeleteOptions{Dir: true}); err != nil {
			return
		}
	}
}
