// Command manager runs the kvmirror operator: the KVMirror controller, with metrics and health
// endpoints. Run it with -h for its flags.
package main

import (
	"flag"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/kvmirror/kvmirror/internal/leadergate"
)

func main() {
	opts := bindFlags(flag.CommandLine)
	opts.leader = leadergate.BindFlags(flag.CommandLine)
	opts.embedded = bindEmbeddedFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts.zap)))
	log := ctrl.Log.WithName("setup")

	if err := opts.complete(); err != nil {
		log.Error(err, "invalid flags")
		os.Exit(2)
	}
	if err := run(ctrl.SetupSignalHandler(), ctrl.GetConfigOrDie(), opts); err != nil {
		log.Error(err, "manager stopped")
		os.Exit(1)
	}
}
