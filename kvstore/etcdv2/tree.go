package etcdv2

import (
	"context"
	"slices"
	"strings"

	client "go.etcd.io/etcd/client/v2"

	"github.com/kvmirror/kvmirror/kvstore"
)

// List implements kvstore.Store with one recursive read of the directory's node. The v2 API
// returns the whole subtree, so nothing is read twice; hidden nodes (the lock bookkeeping) are
// left out by etcd itself. Plain v2 files are listed with the keys of the layout, and a
// directory that is itself a plain file lists as a key with nothing below it.
func (s *Store) List(ctx context.Context, directory string, opts *kvstore.ReadOptions) ([]*kvstore.KVPair, error) {
	dir, err := s.normalizeDir(directory)
	if err != nil {
		return nil, err
	}
	var pairs []*kvstore.KVPair
	err = s.call(ctx, "list", dir, func(ctx context.Context) error {
		var found bool
		var err error
		pairs, found, _, err = s.list(ctx, dir, kvstore.IsConsistent(opts))
		if err == nil && !found {
			return notFound()
		}
		return err
	})
	return pairs, err
}

// list reads the keys strictly below dir, sorted, and reports whether anything is at or below
// dir (the directory's own key counts), with etcd's index at the time of the read.
func (s *Store) list(ctx context.Context, dir string, quorum bool) (pairs []*kvstore.KVPair, found bool, index uint64, err error) {
	resp, err := s.keys.Get(ctx, nodePath(dir), &client.GetOptions{Recursive: true, Quorum: quorum})
	if absent(err) {
		index, _ = errIndex(err)
		return []*kvstore.KVPair{}, false, index, nil
	}
	if err != nil {
		return nil, false, 0, err
	}
	pairs = []*kvstore.KVPair{}
	walk(resp.Node, func(key string, node *client.Node) {
		found = true
		if kvstore.IsBelow(dir, key) {
			pairs = append(pairs, newPair(key, node))
		}
	})
	// Escaping changes the order of segments, so etcd's own sorting would not do.
	slices.SortFunc(pairs, func(a, b *kvstore.KVPair) int { return strings.Compare(a.Key, b.Key) })
	return pairs, found, resp.Index, nil
}

// walk calls fn for every file in the subtree of node that holds a key, value files of the
// layout and plain files alike, with its canonical key. Files that map to no key are skipped.
// No key is reported twice: a node is a file or a directory, so a key's plain file and its
// layout directory never exist together, and keyOfFile is one to one.
func walk(node *client.Node, fn func(key string, node *client.Node)) {
	if !node.Dir {
		if key, ok := keyOfFile(node.Key); ok {
			fn(key, node)
		}
		return
	}
	for _, child := range node.Nodes {
		walk(child, fn)
	}
}

// DeleteTree implements kvstore.Store with one recursive delete of the directory's node, which
// holds the directory's own key and everything below it, and nothing else; when the directory is a
// plain file, the file alone is deleted. The root cannot be deleted in etcd, so DeleteTree("")
// deletes each node at the top instead, except the hidden lock bookkeeping.
func (s *Store) DeleteTree(ctx context.Context, directory string) error {
	dir, err := s.normalizeDir(directory)
	if err != nil {
		return err
	}
	return s.call(ctx, "delete tree", dir, func(ctx context.Context) error {
		if dir == "" {
			return s.deleteTop(ctx)
		}
		_, err := s.keys.Delete(ctx, nodePath(dir), &client.DeleteOptions{Recursive: true, Dir: true})
		if absent(err) {
			return nil
		}
		if err == nil {
			s.prune(ctx, parentDir(nodePath(dir)), "/")
		}
		return err
	})
}

func (s *Store) deleteTop(ctx context.Context) error {
	resp, err := s.keys.Get(ctx, "/", nil)
	if err != nil {
		return err
	}
	for _, node := range resp.Node.Nodes {
		_, err := s.keys.Delete(ctx, node.Key, &client.DeleteOptions{Recursive: true, Dir: node.Dir})
		if err != nil && !absent(err) {
			return err
		}
	}
	return nil
}
