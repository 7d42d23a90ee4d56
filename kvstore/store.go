package kvstore

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"
)

// Store is a key/value store. Every implementation in this module behaves as documented here;
// the conformance suite in package kvtest pins each sentence. A Store is safe for concurrent use.
//
// Every call takes a context that bounds it; a call whose context ends returns an error wrapping
// the context's error. Keys are normalised with Normalize before use, and an invalid key returns
// ErrInvalidKey without touching the backend. After Close every call returns ErrClosed.
type Store interface {
	// Put writes value at key, creating or replacing it. With opts.TTL > 0 the key disappears
	// about TTL after this write, even while the writer stays connected; a later write with a
	// TTL extends it, and one without a TTL makes the key permanent.
	Put(ctx context.Context, key string, value []byte, opts *WriteOptions) error

	// Get returns the pair at key, or ErrKeyNotFound.
	Get(ctx context.Context, key string, opts *ReadOptions) (*KVPair, error)

	// Delete removes key; it returns ErrKeyNotFound when the key does not exist. Keys below key
	// are not touched (use DeleteTree).
	Delete(ctx context.Context, key string) error

	// Exists reports whether key exists. A missing key is (false, nil).
	Exists(ctx context.Context, key string, opts *ReadOptions) (bool, error)

	// Watch reports the value of key on the returned channel: first the current pair if the key
	// exists, then one pair per write (writes of the same value included), in LastIndex order. A
	// deletion is sent as a nil *KVPair. A missing key is waited for, not an error. If the
	// receiver is slow, the watch waits for it rather than dropping events.
	//
	// etcd, etcd v2 and BoltDB deliver every write. Consul's blocking queries and ZooKeeper's
	// one-shot watches return only the latest state, so on those backends writes that land within
	// one server round trip of each other may arrive as one event: the events still never go back
	// in LastIndex, and the last one is always the final state.
	//
	// The channel is closed by the Store within a second of ctx ending or of Close, and when the
	// watch can no longer be kept up; transient connection loss is retried inside. After writes
	// stop, the last pair received equals what Get returns (nil if the key is gone).
	Watch(ctx context.Context, key string, opts *ReadOptions) (<-chan *KVPair, error)

	// WatchTree reports the keys below directory: first the full current listing (an empty,
	// non-nil slice if there is none), then a full listing after any change at any depth below
	// directory. Listings are sorted as List sorts them and may coalesce several changes; after
	// writes stop, the last listing equals List(directory). Closing rules are those of Watch.
	WatchTree(ctx context.Context, directory string, opts *ReadOptions) (<-chan []*KVPair, error)

	// NewLock returns a Locker for key. It does not take the lock; see Locker.
	NewLock(ctx context.Context, key string, opts *LockOptions) (Locker, error)

	// List returns every pair strictly below directory, at any depth, sorted by key. It never
	// returns directory itself, nor a key that merely shares a string prefix ("app" does not list
	// "apple/x"). With nothing at or below directory it returns ErrKeyNotFound; with only
	// directory itself present it returns an empty slice.
	List(ctx context.Context, directory string, opts *ReadOptions) ([]*KVPair, error)

	// DeleteTree removes directory and every key below it, and nothing else. A missing tree is
	// not an error.
	DeleteTree(ctx context.Context, directory string) error

	// AtomicPut writes value at key if the key is as the caller last saw it. With previous nil it
	// only creates (ErrKeyExists if the key is there); otherwise previous.LastIndex must match the
	// stored pair (ErrKeyModified if not, ErrKeyNotFound if the key is gone). On success it
	// returns true and the new pair, which is valid as previous for the next atomic call.
	AtomicPut(ctx context.Context, key string, value []byte, previous *KVPair, opts *WriteOptions) (bool, *KVPair, error)

	// AtomicDelete removes key if previous.LastIndex matches the stored pair. previous nil is
	// ErrPreviousNotSpecified; a stale previous is ErrKeyModified; a missing key ErrKeyNotFound.
	AtomicDelete(ctx context.Context, key string, previous *KVPair) (bool, error)

	// Close releases the Store: it closes every watch channel, releases the Store's locks (their
	// lost channels close) and sessions, and closes connections. Close is idempotent.
	Close() error
}

// Locker is a distributed mutual-exclusion lock created by Store.NewLock. At most one holder
// exists at any time across every Store sharing the backend. A Locker is used by one goroutine
// at a time.
type Locker interface {
	// Lock blocks until the lock is held or ctx ends. ctx bounds only the waiting: once Lock has
	// returned, ending ctx does not release the lock. If ctx ends first, Lock returns an error
	// wrapping ctx.Err() and a nil channel.
	//
	// While the lock is held, Get(key) returns LockOptions.Value. The returned channel is closed,
	// exactly once, when the lock is lost: its TTL ran out because renewal stopped (the process
	// died or LockOptions.RenewLock was closed), its key or session was removed, the Store was
	// closed, or Unlock was called.
	Lock(ctx context.Context) (<-chan struct{}, error)

	// Unlock releases the lock and closes the lost channel. It returns ErrNotLocked if the lock
	// is not held (never taken, already released, or already lost).
	Unlock(ctx context.Context) error
}

// KVPair is a key, its value and its index.
type KVPair struct {
	// Key is the canonical key (see Normalize).
	Key string
	// Value is the stored value; never nil for a pair the Store returns (an empty value is an
	// empty slice).
	Value []byte
	// LastIndex identifies this version of the pair. It is never 0 for an existing key, grows
	// with every write of the key, survives restarts of the backend, and is what AtomicPut and
	// AtomicDelete compare. Indexes of different keys are not comparable on every backend.
	LastIndex uint64
}

// WriteOptions modify Put and AtomicPut. A nil *WriteOptions is the zero value.
type WriteOptions struct {
	// IsDir is accepted for compatibility with libkv callers and has no effect: directories are
	// implicit in kvstore.
	IsDir bool
	// TTL, when positive, makes the key expire about TTL after the write. Negative is
	// ErrInvalidOption. A backend that cannot expire keys returns ErrCallNotSupported rather
	// than ignoring it.
	TTL time.Duration
}

// ReadOptions modify reads. A nil *ReadOptions is the zero value.
type ReadOptions struct {
	// Consistent asks for a linearizable read (on backends that otherwise may serve a read from a
	// follower's possibly stale state).
	Consistent bool
}

// LockOptions modify NewLock. A nil *LockOptions is the zero value.
type LockOptions struct {
	// Value is stored at the lock key while the lock is held (for example the holder's identity).
	Value []byte
	// TTL is how long the lock survives its holder once renewal stops. Zero means DefaultLockTTL;
	// negative is ErrInvalidOption. Backend minimums (Consul's session TTL, etcd's lease TTL) are
	// handled inside: a short TTL is honoured as closely as the backend allows.
	TTL time.Duration
	// RenewLock, when not nil, stops renewal of the lock when closed: the lock is then lost about
	// TTL later unless it was unlocked before.
	RenewLock chan struct{}
}

// DefaultLockTTL is the TTL of a lock whose LockOptions.TTL is zero.
const DefaultLockTTL = 15 * time.Second

// DefaultConnectionTimeout bounds connection attempts when Config.ConnectionTimeout is zero.
const DefaultConnectionTimeout = 10 * time.Second

// Config configures a Store when it is opened. A nil *Config is the zero value. No configuration
// changes process-wide state (http.DefaultClient, http.DefaultTransport, global loggers).
type Config struct {
	// TLS, when not nil, makes network backends connect over TLS with this configuration (CA,
	// client certificate, server name).
	TLS *tls.Config
	// ConnectionTimeout bounds how long opening a Store, and each attempt to reach the backend,
	// may take. Zero means DefaultConnectionTimeout.
	ConnectionTimeout time.Duration
	// Username and Password authenticate to etcd (v3 and v2) and ZooKeeper (digest scheme
	// "Username:Password").
	Username, Password string
	// Token is the Consul ACL token.
	Token string
	// Bucket is the BoltDB bucket; required by the boltdb backend.
	Bucket string
	// PersistConnection keeps the BoltDB file open for the Store's life. When false, the file is
	// opened for each call, so several processes can share it.
	PersistConnection bool
	// KeyLayout chooses how kvstore keys are named in the backend, where the backend offers a
	// choice; empty means the backend's default. Only the etcd (v3) backend has one, between
	// KeyLayoutSlash, its default, and KeyLayoutPlain (see its package documentation). The
	// other backends return ErrInvalidOption for any non-empty value.
	KeyLayout string
}

// Key layouts of the etcd backend: the kvstore key "a/b" is the etcd key "/a/b" in
// KeyLayoutSlash, and "a/b" in KeyLayoutPlain.
const (
	KeyLayoutSlash = "slash"
	KeyLayoutPlain = "plain"
)

// RefuseKeyLayout returns ErrInvalidOption when c asks for a key layout, for a backend that has
// none to choose: ignoring the setting would store keys where the caller does not expect them.
func (c *Config) RefuseKeyLayout(backend string) error {
	if c == nil || c.KeyLayout == "" {
		return nil
	}
	return fmt.Errorf("%s: %w: key layout %q: %s has no choice of key layout", backend, ErrInvalidOption, c.KeyLayout, backend)
}

// Timeout returns c.ConnectionTimeout, or DefaultConnectionTimeout when c is nil or the field is zero.
func (c *Config) Timeout() time.Duration {
	if c == nil || c.ConnectionTimeout <= 0 {
		return DefaultConnectionTimeout
	}
	return c.ConnectionTimeout
}
