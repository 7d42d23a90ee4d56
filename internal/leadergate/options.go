package leadergate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kvmirror/kvmirror/internal/credentials"
	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/leadership"
)

// OpenFunc opens the election store a URL names; kvstore.OpenURL is the default.
type OpenFunc func(ctx context.Context, url string, cfg *kvstore.Config) (kvstore.Store, error)

// Options configure leadership on a kvstore lock. With no StoreURL there is no election: every
// replica runs the controllers (a single replica, or a manager behind some other election).
type Options struct {
	// StoreURL is the URL of the store whose lock elects the leader (see kvstore.ParseURL).
	StoreURL string
	// Key is the lock key; replicas that share store and key share one election.
	Key string
	// TTL is how long the lock outlives a leader that stopped renewing it. At least 1s.
	TTL time.Duration
	// Identity is this replica's name in the election. Complete defaults it to the hostname
	// plus a random suffix.
	Identity string
	// Credentials names the files of TLS material, password and token for the store.
	Credentials credentials.Files
	// Username is the user name for the store (etcd, ZooKeeper digest).
	Username string
	// StoreTimeout bounds each connection attempt to the store.
	StoreTimeout time.Duration
	// Open opens the store. Default kvstore.OpenURL, which needs the backend packages imported.
	Open OpenFunc
	// Retry spaces the attempts to open a store that is unreachable. Default: from 1s, doubling
	// up to 10s, each delay lengthened by up to 10% at random so that replicas cut off together
	// do not come back in lockstep.
	Retry wait.Backoff
}

// BindFlags registers the --leader-elect-* flags on fs and returns the Options they fill.
func BindFlags(fs *flag.FlagSet) *Options {
	o := &Options{}
	fs.StringVar(&o.StoreURL, "leader-elect-store", "",
		"URL of the key/value store whose lock elects the leader (etcd://h1:2379,h2:2379, consul://h:8500, zk://h:2181, etcdv2://h:2379). Empty: no election, this replica leads.")
	fs.StringVar(&o.Key, "leader-elect-key", "kvmirror/leader",
		"Lock key of the election; replicas (in any cluster) that share store and key share one election.")
	fs.DurationVar(&o.TTL, "leader-elect-ttl", leadership.DefaultTTL,
		"How long the lock outlives a leader that stopped renewing it: the failover time after a crash.")
	fs.StringVar(&o.Identity, "leader-elect-identity", "",
		"This replica's name in the election (written to the lock key). Default: hostname plus a random suffix.")
	fs.StringVar(&o.Credentials.CA, "leader-elect-ca-file", "", "PEM CA bundle that verifies the election store's certificate.")
	fs.StringVar(&o.Credentials.Cert, "leader-elect-cert-file", "", "PEM client certificate for the election store.")
	fs.StringVar(&o.Credentials.Key, "leader-elect-key-file", "", "PEM private key of --leader-elect-cert-file.")
	fs.StringVar(&o.Credentials.ServerName, "leader-elect-server-name", "", "Server name expected in the election store's certificate.")
	fs.StringVar(&o.Username, "leader-elect-username", "", "User name for the election store (etcd, ZooKeeper digest).")
	fs.StringVar(&o.Credentials.Password, "leader-elect-password-file", "", "File holding the password of --leader-elect-username.")
	fs.StringVar(&o.Credentials.Token, "leader-elect-token-file", "", "File holding the Consul ACL token for the election store.")
	fs.DurationVar(&o.StoreTimeout, "leader-elect-store-timeout", 5*time.Second,
		"Timeout of each connection attempt to the election store.")
	return o
}

// Enabled reports whether a store is set, that is whether replicas elect a leader.
func (o *Options) Enabled() bool { return o != nil && o.StoreURL != "" }

// Complete checks the options and applies the defaults; it does nothing when not Enabled.
func (o *Options) Complete() error {
	if !o.Enabled() {
		return nil
	}
	if o.TTL < time.Second {
		return fmt.Errorf("--leader-elect-ttl %s: want at least 1s", o.TTL)
	}
	if (o.Credentials.Cert == "") != (o.Credentials.Key == "") {
		return errors.New("--leader-elect-cert-file and --leader-elect-key-file go together")
	}
	if o.Identity == "" {
		o.Identity = defaultIdentity()
	}
	if o.Open == nil {
		o.Open = kvstore.OpenURL
	}
	if o.Retry.Duration <= 0 {
		o.Retry = wait.Backoff{Duration: time.Second, Factor: 2, Jitter: 0.1, Steps: math.MaxInt32, Cap: 10 * time.Second}
	}
	return nil
}

func defaultIdentity() string {
	host, err := os.Hostname()
	if err != nil {
		host = "kvmirror"
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	return host + "-" + hex.EncodeToString(suffix)
}

// storeConfig builds the kvstore configuration of the election store from the flag files.
func (o *Options) storeConfig() (*kvstore.Config, error) {
	cfg := &kvstore.Config{ConnectionTimeout: o.StoreTimeout, Username: o.Username}
	var err error
	if cfg.Password, cfg.Token, err = o.Credentials.Secrets(); err != nil {
		return nil, err
	}
	if cfg.TLS, err = o.Credentials.TLS(); err != nil {
		return nil, err
	}
	return cfg, nil
}
