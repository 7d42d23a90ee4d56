package main

import (
	"errors"
	"flag"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/kvmirror/kvmirror/internal/leadergate"
)

// options are the manager's command-line settings, named as in controller-runtime's scaffolds so
// that manifests and habits carry over.
type options struct {
	metricsAddr string
	probeAddr   string
	// namespaces is the raw --namespaces value; watchNamespaces its parsed form.
	namespaces      string
	watchNamespaces []string
	maxConcurrent   int
	zap             zap.Options
	leader          *leadergate.Options
	embedded        *embeddedOptions
}

func bindFlags(fs *flag.FlagSet) *options {
	o := &options{zap: zap.Options{Development: false}}
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", ":8080",
		`Address the metrics endpoint binds to, or "0" to disable it.`)
	fs.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081",
		"Address the /healthz and /readyz endpoints bind to.")
	fs.StringVar(&o.namespaces, "namespaces", "",
		"Comma-separated namespaces whose KVMirrors, ConfigMaps and Secrets the manager watches; empty watches all.")
	fs.IntVar(&o.maxConcurrent, "max-concurrent-reconciles", 4,
		"How many KVMirrors are reconciled at once.")
	o.zap.BindFlags(fs)
	return o
}

// complete parses and checks what flag parsing alone cannot.
func (o *options) complete() error {
	var errs []error
	for ns := range strings.SplitSeq(o.namespaces, ",") {
		ns = strings.TrimSpace(ns)
		if ns == "" {
			continue
		}
		for _, msg := range validation.IsDNS1123Label(ns) {
			errs = append(errs, errors.New("--namespaces: "+ns+": "+msg))
		}
		o.watchNamespaces = append(o.watchNamespaces, ns)
	}
	if o.maxConcurrent < 1 {
		errs = append(errs, errors.New("--max-concurrent-reconciles must be at least 1"))
	}
	if o.leader != nil {
		errs = append(errs, o.leader.Complete())
	}
	return errors.Join(errs...)
}
