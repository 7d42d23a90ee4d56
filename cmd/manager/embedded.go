package main

import (
	"context"
	"flag"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/kvmirror/kvmirror/internal/embedetcd"
)

// embeddedOptions configure the etcd server the manager can run inside itself, a KV backend
// (and election store) for single-node and demo use. Off unless --embedded-etcd-dir is set.
type embeddedOptions struct {
	dir       string
	clientURL string
	peerURL   string
}

func bindEmbeddedFlags(fs *flag.FlagSet) *embeddedOptions {
	o := &embeddedOptions{}
	fs.StringVar(&o.dir, "embedded-etcd-dir", "",
		"Run an etcd server inside the manager with its data in this directory (single-node and demo use). Empty: off.")
	fs.StringVar(&o.clientURL, "embedded-etcd-client-url", "http://127.0.0.1:2379",
		"Where the embedded etcd serves clients; KVMirrors and --leader-elect-store can point at it.")
	fs.StringVar(&o.peerURL, "embedded-etcd-peer-url", "http://127.0.0.1:2380",
		"Peer address of the embedded etcd (a single member: nothing connects to it, but etcd needs one).")
	return o
}

func (o *embeddedOptions) enabled() bool { return o != nil && o.dir != "" }

func startEmbeddedEtcd(ctx context.Context, o *embeddedOptions) (stop func(), err error) {
	srv, err := embedetcd.Start(ctx, embedetcd.Options{Dir: o.dir, ClientURL: o.clientURL, PeerURL: o.peerURL})
	if err != nil {
		return nil, err
	}
	ctrl.Log.WithName("embedded-etcd").Info("serving", "endpoint", srv.Endpoint(), "dir", o.dir)
	return srv.Close, nil
}
