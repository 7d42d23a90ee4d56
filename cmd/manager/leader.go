package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/leadership"
)

// leaderOptions configure leadership on a kvstore lock. With no store URL every replica runs the
// controllers (a single replica, or a manager behind some other election).
type leaderOptions struct {
	storeURL     string
	key          string
	ttl          time.Duration
	identity     string
	caFile       string
	certFile     string
	keyFile      string
	serverName   string
	username     string
	passwordFile string
	tokenFile    string
	storeTimeout time.Duration
}

func bindLeaderFlags(fs *flag.FlagSet) *leaderOptions {
	o := &leaderOptions{}
	fs.StringVar(&o.storeURL, "leader-elect-store", "",
		"URL of the key/value store whose lock elects the leader (etcd://h1:2379,h2:2379, consul://h:8500, zk://h:2181, etcdv2://h:2379). Empty: no election, this replica leads.")
	fs.StringVar(&o.key, "leader-elect-key", "kvmirror/leader",
		"Lock key of the election; replicas (in any cluster) that share store and key share one election.")
	fs.DurationVar(&o.ttl, "leader-elect-ttl", leadership.DefaultTTL,
		"How long the lock outlives a leader that stopped renewing it: the failover time after a crash.")
	fs.StringVar(&o.identity, "leader-elect-identity", "",
		"This replica's name in the election (written to the lock key). Default: hostname plus a random suffix.")
	fs.StringVar(&o.caFile, "leader-elect-ca-file", "", "PEM CA bundle that verifies the election store's certificate.")
	fs.StringVar(&o.certFile, "leader-elect-cert-file", "", "PEM client certificate for the election store.")
	fs.StringVar(&o.keyFile, "leader-elect-key-file", "", "PEM private key of --leader-elect-cert-file.")
	fs.StringVar(&o.serverName, "leader-elect-server-name", "", "Server name expected in the election store's certificate.")
	fs.StringVar(&o.username, "leader-elect-username", "", "User name for the election store (etcd, ZooKeeper digest).")
	fs.StringVar(&o.passwordFile, "leader-elect-password-file", "", "File holding the password of --leader-elect-username.")
	fs.StringVar(&o.tokenFile, "leader-elect-token-file", "", "File holding the Consul ACL token for the election store.")
	fs.DurationVar(&o.storeTimeout, "leader-elect-store-timeout", 5*time.Second,
		"Timeout of each connection attempt to the election store.")
	return o
}

func (o *leaderOptions) enabled() bool { return o != nil && o.storeURL != "" }

func (o *leaderOptions) complete() error {
	if !o.enabled() {
		return nil
	}
	if o.ttl < time.Second {
		return fmt.Errorf("--leader-elect-ttl %s: want at least 1s", o.ttl)
	}
	if (o.certFile == "") != (o.keyFile == "") {
		return errors.New("--leader-elect-cert-file and --leader-elect-key-file go together")
	}
	if o.identity == "" {
		host, err := os.Hostname()
		if err != nil {
			host = "kvmirror"
		}
		suffix := make([]byte, 4)
		_, _ = rand.Read(suffix)
		o.identity = host + "-" + hex.EncodeToString(suffix)
	}
	return nil
}

// storeConfig builds the kvstore configuration of the election store from the flag files.
func (o *leaderOptions) storeConfig() (*kvstore.Config, error) {
	cfg := &kvstore.Config{ConnectionTimeout: o.storeTimeout, Username: o.username}
	var err error
	if cfg.Password, err = readSecretFile(o.passwordFile); err != nil {
		return nil, err
	}
	if cfg.Token, err = readSecretFile(o.tokenFile); err != nil {
		return nil, err
	}
	if o.caFile == "" && o.certFile == "" && o.serverName == "" {
		return cfg, nil
	}
	cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.serverName}
	if o.caFile != "" {
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return nil, err
		}
		cfg.TLS.RootCAs = x509.NewCertPool()
		if !cfg.TLS.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", o.caFile)
		}
	}
	if o.certFile != "" {
		cert, err := tls.LoadX509KeyPair(o.certFile, o.keyFile)
		if err != nil {
			return nil, err
		}
		cfg.TLS.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func readSecretFile(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(data)), nil
}

var leaderGauge = prometheus.NewGauge(prometheus.GaugeOpts{
	Name: "kvmirror_leader",
	Help: "1 while this replica holds the leadership lock and runs the controllers, else 0.",
})

func init() { metrics.Registry.MustRegister(leaderGauge) }

// errDeposed ends the manager when this replica loses the lock: the process exits non-zero and
// restarts clean, rather than carrying state from a term it no longer holds.
var errDeposed = errors.New("lost the leadership lock")

// leaderGate is a manager.Runnable that campaigns for the lock and runs the controllers only
// while this replica holds it. Caches, metrics and probes run on every replica.
type leaderGate struct {
	opts *leaderOptions
	// controllers is what runs while this replica leads; set before the manager starts.
	controllers manager.Runnable
	log         logr.Logger
	// term of the current leadership, 0 while not leading.
	term atomic.Uint64
}

func newLeaderGate(o *leaderOptions, log logr.Logger) *leaderGate {
	return &leaderGate{opts: o, log: log.WithValues("identity", o.identity, "key", o.key)}
}

// holder returns this replica's identity and the term it leads in, for the write record on
// ConfigMaps.
func (g *leaderGate) holder() (string, uint64) { return g.opts.identity, g.term.Load() }

// NeedLeaderElection is false: the gate is the election.
func (g *leaderGate) NeedLeaderElection() bool { return false }

// Start opens the election store (waiting, not leading, while it is unreachable) and campaigns
// until ctx ends. Once elected it starts the controllers; on deposition it stops them and returns
// errDeposed; when ctx ends it stops them first and only then releases the lock, so that no two
// replicas ever run the controllers at once.
func (g *leaderGate) Start(ctx context.Context) error {
	leaderGauge.Set(0)
	store, err := openLeaderStore(ctx, g.opts, g.log)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer store.Close()
	candidate, err := leadership.NewCandidate(store, leadership.Config{
		Key: g.opts.key, Identity: g.opts.identity, TTL: g.opts.ttl, Logger: slog.New(logr.ToSlogHandler(g.log)),
	})
	if err != nil {
		return err
	}
	// The campaign outlives ctx on purpose: the lock is released only after the controllers stopped.
	campaignCtx, resign := context.WithCancel(context.WithoutCancel(ctx))
	events := candidate.Campaign(campaignCtx)
	defer func() {
		resign()
		for range events { // until Campaign has released the lock
		}
		leaderGauge.Set(0)
	}()
	g.log.Info("campaigning for leadership")
	select {
	case <-ctx.Done():
		return nil
	case <-events: // the first event is always an election
	}
	return g.lead(ctx, candidate, events)
}

// lead runs the controllers until ctx ends or leadership is lost.
func (g *leaderGate) lead(ctx context.Context, candidate *leadership.Candidate, events <-chan bool) error {
	g.term.Store(candidate.Term())
	defer g.term.Store(0)
	leaderGauge.Set(1)
	log := g.log.WithValues("term", candidate.Term())
	log.Info("elected leader; starting controllers")
	leaderCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- g.controllers.Start(leaderCtx) }()
	select {
	case <-ctx.Done():
		if err := stopControllers(stop, done); err != nil {
			log.Error(err, "controllers stopped with an error")
		}
		log.Info("stopping: controllers stopped, releasing leadership")
		return nil
	case <-events:
		if err := stopControllers(stop, done); err != nil {
			log.Error(err, "controllers stopped with an error")
		}
		leaderGauge.Set(0)
		log.Error(errDeposed, "deposed; controllers stopped, exiting to restart clean")
		return errDeposed
	case err := <-done:
		return fmt.Errorf("controllers stopped while leading: %w", err)
	}
}

// stopControllers cancels the controllers' context and waits until they have stopped.
func stopControllers(stop context.CancelFunc, done <-chan error) error {
	stop()
	return <-done
}

// openLeaderStore opens the election store, retrying until it answers or ctx ends: a replica
// started while the store is down waits, not leading, and campaigns as soon as it is back.
func openLeaderStore(ctx context.Context, o *leaderOptions, log logr.Logger) (kvstore.Store, error) {
	cfg, err := o.storeConfig()
	if err != nil {
		return nil, fmt.Errorf("leader election store: %w", err)
	}
	log = log.WithValues("store", redactURL(o.storeURL))
	retry := time.Second
	for {
		store, err := kvstore.OpenURL(ctx, o.storeURL, cfg)
		if err == nil {
			return store, nil
		}
		if !errors.Is(err, kvstore.ErrUnreachable) && !errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("leader election store: %w", err)
		}
		log.Info("election store unreachable; not leading, retrying", "error", err.Error(), "retryIn", retry)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(retry):
		}
		retry = min(2*retry, 10*time.Second)
	}
}

// redactURL hides credentials in a store URL before it is logged.
func redactURL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	if _, hosts, ok := strings.Cut(rest, "@"); ok {
		return scheme + "://***@" + hosts
	}
	return raw
}
