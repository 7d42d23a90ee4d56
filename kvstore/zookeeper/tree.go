package zookeeper

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/go-zookeeper/zk"

	"github.com/kvmirror/kvmirror/kvstore"
)

// parallelism is how many requests a tree walk keeps in flight. go-zookeeper pipelines requests
// on its one connection, so a walk of a large tree costs a round trip per level, not per node.
const parallelism = 16

// entry is a znode and the key it stands for.
type entry struct {
	key, path string
}

// List returns every key below directory, sorted. ZooKeeper has no atomic read of a subtree, so
// the listing is built node by node: a key written or deleted during the walk may or may not be
// in it. With opts.Consistent, the server first catches up with the leader.
func (s *Store) List(ctx context.Context, directory string, opts *kvstore.ReadOptions) ([]*kvstore.KVPair, error) {
	dir, err := s.normalize(ctx, "list", directory, true)
	if err != nil {
		return nil, err
	}
	pairs, dirIsKey, err := s.walk(ctx, entry{key: dir, path: s.path(dir)}, kvstore.IsConsistent(opts))
	if err == nil && len(pairs) == 0 && !dirIsKey {
		err = zk.ErrNoNode
	}
	if err != nil {
		return nil, s.wrapErr(ctx, "list", dir, err)
	}
	slices.SortFunc(pairs, func(a, b *kvstore.KVPair) int { return cmp.Compare(a.Key, b.Key) })
	return pairs, nil
}

// walk reads the subtree of top level by level and returns its keys (top excluded), and whether
// top itself is a key.
func (s *Store) walk(ctx context.Context, top entry, consistent bool) ([]*kvstore.KVPair, bool, error) {
	topNode, err := s.get(ctx, top.path, consistent)
	if errors.Is(err, zk.ErrNoNode) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	pairs := []*kvstore.KVPair{}
	var mu sync.Mutex
	level := []entry{}
	if topNode.stat.NumChildren > 0 {
		level = append(level, top)
	}
	for len(level) > 0 {
		kids, err := s.childrenOf(ctx, level)
		if err != nil {
			return nil, false, err
		}
		level = level[:0]
		err = forEach(ctx, kids, func(ctx context.Context, e entry) error {
			n, err := s.get(ctx, e.path, false)
			if errors.Is(err, zk.ErrNoNode) {
				return nil // deleted during the walk
			}
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			if n.data != nil {
				pairs = append(pairs, &kvstore.KVPair{Key: e.key, Value: n.data, LastIndex: uint64(n.stat.Mzxid)})
			}
			if n.stat.NumChildren > 0 {
				level = append(level, e)
			}
			return nil
		})
		if err != nil {
			return nil, false, err
		}
	}
	return pairs, top.key != "" && topNode.data != nil, nil
}

// childrenOf returns the key nodes directly below each of parents.
func (s *Store) childrenOf(ctx context.Context, parents []entry) ([]entry, error) {
	var mu sync.Mutex
	var kids []entry
	err := forEach(ctx, parents, func(ctx context.Context, p entry) error {
		found, err := s.children(ctx, p)
		mu.Lock()
		kids = append(kids, found...)
		mu.Unlock()
		return err
	})
	return kids, err
}

// children returns the key nodes directly below p; none if p is gone. Names that are not keys
// (ZooKeeper's own node, lock bookkeeping, foreign names) are left out, with what lies below them.
func (s *Store) children(ctx context.Context, p entry) ([]entry, error) {
	names, err := call(ctx, s.sess, func(c *zk.Conn) ([]string, error) {
		names, _, err := c.Children(p.path)
		return names, err
	})
	if errors.Is(err, zk.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	kids := make([]entry, 0, len(names))
	for _, name := range names {
		if key, ok := s.childKey(p.key, name); ok {
			kids = append(kids, entry{key: key, path: s.child(p.path, name)})
		}
	}
	return kids, nil
}

// DeleteTree removes directory and every key below it. Nodes that are not keys (another
// client's, or a lock's bookkeeping) are left in place, and the nodes above them stay as implicit
// parents.
func (s *Store) DeleteTree(ctx context.Context, directory string) error {
	dir, err := s.normalize(ctx, "delete tree", directory, true)
	if err != nil {
		return err
	}
	top := entry{key: dir, path: s.path(dir)}
	if dir == "" {
		// The root itself stays: it is the server's, or the chroot the Store was given.
		var kids []entry
		if kids, err = s.children(ctx, top); err == nil {
			err = forEach(ctx, kids, s.removeTree)
		}
	} else if err = s.removeTree(ctx, top); err == nil {
		s.prune(ctx, top.path)
	}
	return s.wrapErr(ctx, "delete tree", dir, err)
}

// removeTree deletes the subtree of e, children first.
func (s *Store) removeTree(ctx context.Context, e entry) error {
	for range maxAttempts {
		kids, err := s.children(ctx, e)
		if err == nil {
			err = forEach(ctx, kids, s.removeTree)
		}
		if err != nil {
			return err
		}
		err = s.sess.do(ctx, func(c *zk.Conn) error { return c.Delete(e.path, -1) })
		switch {
		case err == nil, errors.Is(err, zk.ErrNoNode):
			return nil
		case !errors.Is(err, zk.ErrNotEmpty):
			return err
		}
		// A key was created below meanwhile (delete it too), or only nodes that are not keys
		// remain (keep them, and keep e as their implicit parent).
		if kids, err = s.children(ctx, e); err != nil || len(kids) > 0 {
			continue
		}
		return s.sess.do(ctx, func(c *zk.Conn) error {
			_, err := c.Set(e.path, nil, -1)
			return err
		})
	}
	return zk.ErrNotEmpty
}

// forEach calls f on every item, at most parallelism at once, and returns the first error; after
// an error it starts no more calls.
func forEach[T any](ctx context.Context, items []T, f func(context.Context, T) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, parallelism)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for _, item := range items {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := f(ctx, item); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}
