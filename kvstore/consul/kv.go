package consul

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/hashicorp/consul/api"

	"github.com/kvmirror/kvmirror/kvstore"
)

// Get returns the pair at key, or kvstore.ErrKeyNotFound.
func (s *Store) Get(ctx context.Context, key string, opts *kvstore.ReadOptions) (*kvstore.KVPair, error) {
	ctx, key, leave, err := s.enterKey(ctx, key)
	if err != nil {
		return nil, err
	}
	defer leave()
	pair, err := s.get(ctx, key, kvstore.IsConsistent(opts))
	if err != nil {
		return nil, fmt.Errorf("consul: get %q: %w", key, err)
	}
	if pair == nil {
		return nil, fmt.Errorf("consul: get %q: %w", key, kvstore.ErrKeyNotFound)
	}
	return toPair(pair), nil
}

// Exists reports whether key exists.
func (s *Store) Exists(ctx context.Context, key string, opts *kvstore.ReadOptions) (bool, error) {
	ctx, key, leave, err := s.enterKey(ctx, key)
	if err != nil {
		return false, err
	}
	defer leave()
	pair, err := s.get(ctx, key, kvstore.IsConsistent(opts))
	if err != nil {
		return false, fmt.Errorf("consul: exists %q: %w", key, err)
	}
	return pair != nil, nil
}

// get reads key's entry; nil when it does not exist.
func (s *Store) get(ctx context.Context, key string, consistent bool) (*api.KVPair, error) {
	actx, cancel := s.attempt(ctx)
	defer cancel()
	pair, _, err := s.readKey(key, queryOptions(actx, consistent))
	return pair, mapError(actx, err)
}

// readKey reads key's entry (nil: absent) with q, which may make it a blocking query. Consul
// refuses URLs that hold characters unicode.IsPrint rejects (format and private-use characters,
// spaces other than ' '), so such a key is read from a listing of its longest printable prefix.
func (s *Store) readKey(key string, q *api.QueryOptions) (*api.KVPair, *api.QueryMeta, error) {
	prefix := printablePrefix(key)
	if prefix == key {
		return s.client.KV().Get(key, q)
	}
	entries, meta, err := s.client.KV().List(prefix, q)
	for _, e := range entries {
		if e.Key == key {
			return e, meta, err
		}
	}
	return nil, meta, err
}

// listBelow lists the entries below the canonical directory dir with q, read through the longest
// printable prefix of "dir/" (see readKey).
func (s *Store) listBelow(dir string, q *api.QueryOptions) ([]*kvstore.KVPair, *api.QueryMeta, error) {
	entries, meta, err := s.client.KV().List(printablePrefix(prefixOf(dir)), q)
	if err != nil {
		return nil, nil, err
	}
	// Consul answers a listing the token may read only in part with the readable keys alone;
	// passing that on would report the others as deleted.
	if meta.ResultsFilteredByACLs {
		return nil, nil, fmt.Errorf("%w: the token may not read every key below %q", kvstore.ErrPermissionDenied, dir)
	}
	return below(dir, entries), meta, nil
}

// printablePrefix is key up to its first rune that Consul's HTTP server refuses in a URL path.
func printablePrefix(key string) string {
	for i, r := range key {
		if !unicode.IsPrint(r) {
			return key[:i]
		}
	}
	return key
}

// List returns the pairs strictly below directory, sorted: Consul lists the prefix "directory/",
// which already leaves out directory itself and siblings such as "directory-x".
func (s *Store) List(ctx context.Context, directory string, opts *kvstore.ReadOptions) ([]*kvstore.KVPair, error) {
	ctx, dir, leave, err := s.enterDir(ctx, directory)
	if err != nil {
		return nil, err
	}
	defer leave()
	pairs, err := s.list(ctx, dir, kvstore.IsConsistent(opts))
	if err == nil && len(pairs) == 0 {
		err = s.dirExists(ctx, dir, kvstore.IsConsistent(opts))
	}
	if err != nil {
		return nil, fmt.Errorf("consul: list %q: %w", dir, err)
	}
	return pairs, nil
}

func (s *Store) list(ctx context.Context, dir string, consistent bool) ([]*kvstore.KVPair, error) {
	actx, cancel := s.attempt(ctx)
	defer cancel()
	pairs, _, err := s.listBelow(dir, queryOptions(actx, consistent))
	return pairs, mapError(actx, err)
}

// dirExists returns nil when dir itself is a key (an empty listing is then the answer) and
// ErrKeyNotFound otherwise. A token that may read below dir but not dir itself (an ACL on
// "dir/") cannot tell; the listing it was allowed, complete and empty, answers for it. Without a
// token Consul does not flag filtered listings, so an empty one proves nothing and the refusal
// stands.
func (s *Store) dirExists(ctx context.Context, dir string, consistent bool) error {
	if dir != "" {
		pair, err := s.get(ctx, dir, consistent)
		if errors.Is(err, kvstore.ErrPermissionDenied) && s.hasToken {
			return kvstore.ErrKeyNotFound
		}
		if err != nil || pair != nil {
			return err
		}
	}
	return kvstore.ErrKeyNotFound
}

// Delete removes key, or returns kvstore.ErrKeyNotFound. Consul's own delete succeeds on a
// missing key, so the existence check runs in the same transaction.
func (s *Store) Delete(ctx context.Context, key string) error {
	ctx, key, leave, err := s.enterKey(ctx, key)
	if err != nil {
		return err
	}
	defer leave()
	_, err = s.txn(ctx, api.KVTxnOps{
		{Verb: api.KVGet, Key: key},
		{Verb: api.KVDelete, Key: key},
	})
	if failedOp(err) == 0 {
		err = kvstore.ErrKeyNotFound
	}
	if err != nil {
		return fmt.Errorf("consul: delete %q: %w", key, err)
	}
	return nil
}

// DeleteTree removes directory and everything below it in one transaction, so watchers see one
// change.
func (s *Store) DeleteTree(ctx context.Context, directory string) error {
	ctx, dir, leave, err := s.enterDir(ctx, directory)
	if err != nil {
		return err
	}
	defer leave()
	ops := api.KVTxnOps{{Verb: api.KVDeleteTree, Key: prefixOf(dir)}}
	if dir != "" {
		ops = append(ops, &api.KVTxnOp{Verb: api.KVDelete, Key: dir})
	}
	if _, err := s.txn(ctx, ops); err != nil {
		return fmt.Errorf("consul: delete tree %q: %w", dir, err)
	}
	return nil
}

// prefixOf is the Consul key prefix of everything below the canonical directory dir.
func prefixOf(dir string) string {
	if dir == "" {
		return ""
	}
	return dir + "/"
}

// below converts Consul's entries to the pairs strictly below dir, sorted by canonical key.
// Entries written by other tools may be non-canonical ("dir/", "a//b"); they are shown under
// their canonical key and folders Consul's UI creates ("dir/x/") are left out, being dir itself
// or a key below it with an empty name.
func below(dir string, entries api.KVPairs) []*kvstore.KVPair {
	pairs := make([]*kvstore.KVPair, 0, len(entries))
	for _, e := range entries {
		if strings.HasSuffix(e.Key, "/") {
			continue
		}
		p := toPair(e)
		if kvstore.IsBelow(dir, p.Key) {
			pairs = append(pairs, p)
		}
	}
	slices.SortFunc(pairs, func(a, b *kvstore.KVPair) int { return strings.Compare(a.Key, b.Key) })
	return slices.CompactFunc(pairs, func(a, b *kvstore.KVPair) bool { return a.Key == b.Key })
}

func toPair(e *api.KVPair) *kvstore.KVPair {
	value := e.Value
	if value == nil {
		value = []byte{}
	}
	return &kvstore.KVPair{Key: kvstore.Canonical(e.Key), Value: value, LastIndex: e.ModifyIndex}
}
