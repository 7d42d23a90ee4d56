// Command demo is `make demo`: it shows kvmirror at work on a machine with no cluster and no
// key/value store. It starts a local Kubernetes control plane (envtest's kube-apiserver and
// etcd), an etcd server inside itself as the key/value store, and two manager replicas that
// elect their leader on a kvstore lock; then it mirrors keys into a ConfigMap, follows updates
// and deletes, stops the leader and shows the other replica take over.
//
// Each step prints what it did and what it observed. By default the demo then keeps everything
// running for you to play with until Ctrl-C; with --once (or DEMO_ONCE=1) it exits at the end of
// the script, 0 only if every step was observed.
//
//	go run ./hack/demo [--once] [--dir .demo] [--manager bin/manager]
//	go run ./hack/demo put KEY VALUE    write a key to the running demo's etcd
//	go run ./hack/demo delete KEY       delete one
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kvmirror/kvmirror/internal/testcluster"
)

// Exit codes: a failed step and a broken setup are told apart from an interruption, so that a
// script can see whether the demo itself found a problem.
const (
	exitStepFailed  = 1
	exitUsage       = 2
	exitInterrupted = 130
)

type config struct {
	once    bool
	dir     string
	manager string
	wait    time.Duration
}

func main() {
	// Started by envtest as kube-apiserver or etcd: become that server, bound to the demo's life.
	wrapServerIfAsked()
	if len(os.Args) > 1 && (os.Args[1] == "put" || os.Args[1] == "delete") {
		os.Exit(kvCommand(os.Args[1], os.Args[2:]))
	}
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(exitUsage)
	}
	// envtest and controller-runtime log through logr; the demo prints its own story, and an
	// unset logger would print a warning with a stack trace after 30 s.
	logf.SetLogger(logr.Discard())
	os.Exit(run(cfg))
}

func parseFlags(args []string) (*config, error) {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	cfg := &config{}
	envOnce := os.Getenv("DEMO_ONCE") == "1" || os.Getenv("DEMO_ONCE") == "true"
	fs.BoolVar(&cfg.once, "once", envOnce,
		"Run the script once and exit: 0 only if every step was observed (also DEMO_ONCE=1).")
	fs.StringVar(&cfg.dir, "dir", ".demo",
		"Work folder for the kubeconfig, logs and server data, relative to the module root.")
	fs.StringVar(&cfg.manager, "manager", "bin/manager",
		"The manager binary (make demo builds it), relative to the module root.")
	fs.DurationVar(&cfg.wait, "wait", time.Minute,
		"How long each step waits for what it expects; generous, for a loaded 2-core machine.")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (commands: put, delete)", fs.Arg(0))
	}
	return cfg, nil
}

// run plays the demo and returns the process's exit code. Everything it starts is stopped
// before it returns, whatever happened.
func run(cfg *config) int {
	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	go func() {
		// After the first Ctrl-C the clean-up runs; a second one ends the demo at once, and the
		// kernel then ends every server it started (see procattr_linux.go).
		<-ctx.Done()
		stopSignals()
	}()
	d, err := newDemo(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		return exitUsage
	}
	defer d.unlock()
	err = d.play(ctx)
	d.shutdown()
	switch {
	case err == nil:
		return 0
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		fmt.Println("demo: interrupted")
		return exitInterrupted
	default:
		return exitStepFailed
	}
}

// moduleRoot finds the kvmirror checkout from the working directory: the demo reads
// config/crd/bases and, by default, writes .demo and runs bin/manager there.
func moduleRoot() (string, error) {
	root, err := testcluster.ModuleRoot()
	if err != nil {
		return "", fmt.Errorf("run the demo inside the kvmirror checkout: %w", err)
	}
	return root, nil
}
