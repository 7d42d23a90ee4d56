package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kvmirror/kvmirror/internal/embedetcd"
	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/etcd"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// kvStartAttempts: a free port can be taken by another process between the moment it is picked
// and etcd's bind, on a machine where several people run servers; a new pair of ports is tried.
const kvStartAttempts = 3

// endpointFile, in the work folder, tells `demo put` and `demo delete` where the running demo's
// etcd serves.
const endpointFile = "etcd-endpoint"

// kvServer is the key/value store of the demo: an etcd server inside the demo's process (the
// manager's embedded default), and a kvstore client on it for the demo's own writes.
type kvServer struct {
	srv   *embedetcd.Server
	store kvstore.Store
}

func startKV(ctx context.Context, dataDir, logFile string) (*kvServer, error) {
	var errs []error
	for range kvStartAttempts {
		ports, err := testserver.FreePorts(2)
		if err != nil {
			return nil, err
		}
		_ = os.RemoveAll(dataDir) // a failed attempt may leave a member that names the old ports
		srv, err := embedetcd.Start(ctx, embedetcd.Options{
			Dir:       dataDir,
			ClientURL: "http://" + testserver.Loopback(ports[0]),
			PeerURL:   "http://" + testserver.Loopback(ports[1]),
			LogFile:   logFile,
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		store, err := openStore(ctx, srv.Endpoint())
		if err != nil {
			srv.Close()
			return nil, err
		}
		return &kvServer{srv: srv, store: store}, nil
	}
	return nil, errors.Join(errs...)
}

func (k *kvServer) endpoint() string { return k.srv.Endpoint() }

func (k *kvServer) close() {
	_ = k.store.Close()
	k.srv.Close()
}

func openStore(ctx context.Context, endpoint string) (kvstore.Store, error) {
	return etcd.New(ctx, []string{endpoint}, &kvstore.Config{ConnectionTimeout: 5 * time.Second})
}

// kvCommand is `demo put KEY VALUE` and `demo delete KEY`: a way to play with the running demo's
// etcd without an etcdctl on the machine. It returns the exit code.
func kvCommand(name string, args []string) int {
	fs := flag.NewFlagSet("demo "+name, flag.ContinueOnError)
	dir := fs.String("dir", ".demo", "The running demo's work folder, relative to the module root.")
	endpoint := fs.String("endpoint", "", "etcd's host:port. Default: the one the running demo wrote to its work folder.")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	want := map[string]int{"put": 2, "delete": 1}[name]
	if fs.NArg() != want {
		fmt.Fprintf(os.Stderr, "usage: go run ./hack/demo %s [--dir DIR] [--endpoint HOST:PORT] %s\n",
			name, map[string]string{"put": "KEY VALUE", "delete": "KEY"}[name])
		return exitUsage
	}
	if err := runKV(name, *dir, *endpoint, fs.Args()); err != nil {
		fmt.Fprintf(os.Stderr, "demo %s: %v\n", name, err)
		return exitStepFailed
	}
	return 0
}

func runKV(name, dir, endpoint string, args []string) error {
	if endpoint == "" {
		if !filepath.IsAbs(dir) {
			root, err := moduleRoot()
			if err != nil {
				return err
			}
			dir = filepath.Join(root, dir)
		}
		data, err := os.ReadFile(filepath.Join(dir, endpointFile))
		if err != nil {
			return fmt.Errorf("is the demo running? (%w)", err)
		}
		endpoint = strings.TrimSpace(string(data))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	store, err := openStore(ctx, endpoint)
	if err != nil {
		return fmt.Errorf("is the demo running? (%w)", err)
	}
	defer func() { _ = store.Close() }()
	if name == "put" {
		err = store.Put(ctx, args[0], []byte(args[1]), nil)
	} else {
		err = store.Delete(ctx, args[0])
	}
	if err != nil {
		return err
	}
	fmt.Printf("%s %s on etcd %s\n", map[string]string{"put": "wrote", "delete": "deleted"}[name], args[0], endpoint)
	return nil
}
