// Package embedetcd runs a single-member etcd server inside the process: the embedded default
// backend of the manager (--embedded-etcd) for single-node and demo use.
package embedetcd

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// Options configure an embedded etcd server.
type Options struct {
	// Dir holds the server's data; it survives restarts of the process.
	Dir string
	// ClientURL is where clients connect, e.g. http://127.0.0.1:2379.
	ClientURL string
	// PeerURL is the member's peer address; nothing connects to it in a single-member cluster,
	// but etcd needs one. Default: http://127.0.0.1:2380.
	PeerURL string
	// LogFile receives the server's log (errors only). Default: standard error. etcd logs the
	// closing of its listeners as errors even on a clean stop, so a program with its own output
	// (the demo) sends them to a file.
	LogFile string
}

// Server is a running embedded etcd server.
type Server struct {
	etcd     *embed.Etcd
	endpoint string
}

// Start starts the server and waits until it serves clients or ctx ends.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Dir == "" || opts.ClientURL == "" {
		return nil, errors.New("embedetcd: Dir and ClientURL are required")
	}
	if opts.PeerURL == "" {
		opts.PeerURL = "http://127.0.0.1:2380"
	}
	client, err := url.Parse(opts.ClientURL)
	if err != nil {
		return nil, fmt.Errorf("embedetcd: client URL: %w", err)
	}
	peer, err := url.Parse(opts.PeerURL)
	if err != nil {
		return nil, fmt.Errorf("embedetcd: peer URL: %w", err)
	}
	cfg := embed.NewConfig()
	cfg.Name = "kvmirror"
	cfg.Dir = opts.Dir
	cfg.ListenClientUrls = []url.URL{*client}
	cfg.AdvertiseClientUrls = []url.URL{*client}
	cfg.ListenPeerUrls = []url.URL{*peer}
	cfg.AdvertisePeerUrls = []url.URL{*peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "error"
	if opts.LogFile != "" {
		cfg.LogOutputs = []string{opts.LogFile}
	}
	etcd, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("embedetcd: start: %w", err)
	}
	select {
	case <-etcd.Server.ReadyNotify():
	case err := <-etcd.Err():
		etcd.Close()
		return nil, fmt.Errorf("embedetcd: %w", err)
	case <-ctx.Done():
		etcd.Close()
		return nil, fmt.Errorf("embedetcd: waiting for the server: %w", ctx.Err())
	case <-time.After(time.Minute):
		etcd.Close()
		return nil, errors.New("embedetcd: server not ready after a minute")
	}
	return &Server{etcd: etcd, endpoint: client.Host}, nil
}

// Endpoint returns the host:port clients connect to.
func (s *Server) Endpoint() string { return s.endpoint }

// Err reports a fatal server error; it is closed when the server stops.
func (s *Server) Err() <-chan error { return s.etcd.Err() }

// Close stops the server.
func (s *Server) Close() { s.etcd.Close() }
