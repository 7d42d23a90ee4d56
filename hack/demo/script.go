package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kvmirror/kvmirror/api/v1alpha1"
)

// What the script mirrors. The prefix and the keys are the demo's story; the ConfigMap keys
// follow kvmirror's mapping rule: the prefix stripped, each '/' replaced by '.'.
const (
	namespace  = "default"
	mirrorName = "demo-app"
	prefix     = "demo/app"
	leaderKey  = "kvmirror/leader" // the manager's default --leader-elect-key
)

var identities = []string{"replica-a", "replica-b"}

// step is one numbered part of the script. run returns the line that says what was observed.
type step struct {
	title string
	run   func(ctx context.Context) (string, error)
}

func (d *demo) steps() []step {
	return []step{
		{"Start a local Kubernetes control plane", d.startControlPlane},
		{"Start the embedded key/value store", d.startKV},
		{"Install the KVMirror CRD", d.installCRD},
		{"Start two manager replicas", d.startReplicas},
		{"Create a KVMirror for the prefix " + prefix, d.applyMirror},
		{"Write keys under " + prefix + ": the ConfigMap appears", d.writeKeys},
		{"Look at the mirror with kubectl", d.showMirror},
		{"Change a key and delete another: the ConfigMap follows", d.updateKeys},
		{"Hand over leadership: stop the leader", d.handOver},
		{"Write a key after the hand-over: the new leader mirrors it", d.writeAfterHandOver},
	}
}

// play runs the script, then, unless in once mode, keeps everything running until ctx ends.
func (d *demo) play(ctx context.Context) error {
	d.timings.began = time.Now()
	mode := "interactive: everything keeps running at the end until Ctrl-C"
	if d.cfg.once {
		mode = "once: exits at the end of the script"
	}
	d.out.printf("kvmirror demo (%s); work folder %s\n", mode, d.rel(d.dir))
	steps := d.steps()
	for i, s := range steps {
		d.out.heading(i+1, s.title)
		summary, err := s.run(ctx)
		if err != nil {
			if ctx.Err() != nil {
				d.out.info("interrupted")
				return ctx.Err()
			}
			d.out.failed(i+1, s.title, err)
			return err
		}
		d.out.ok(i+1, summary)
	}
	d.timings.total = time.Since(d.timings.began)
	d.summary(len(steps))
	if d.cfg.once {
		return nil
	}
	return d.keepPlaying(ctx)
}

func (d *demo) summary(n int) {
	t := d.timings
	d.out.section("Summary")
	d.out.info("all %d steps observed in %s", n, seconds(t.total))
	d.out.info("control plane started in %s", seconds(t.controlPlane))
	d.out.info("ConfigMap followed the store within %s (first keys), %s (update and delete), %s (after the hand-over)",
		seconds(t.firstMirror), seconds(t.update), seconds(t.afterHandOver))
	d.out.info("hand-over: new leader %s after SIGTERM to the old one (which exited after %s)",
		seconds(t.handOver), seconds(t.oldLeaderExit))
}

func (d *demo) startControlPlane(context.Context) (string, error) {
	d.out.info("envtest runs %s from %s", envtestVersions(), d.assets)
	d.out.info("(its logs: %s)", d.rel(filepath.Join(d.dir, "logs")))
	began := time.Now()
	c, err := startCluster(d.dir, d.assets, d.kubectlPath)
	if err != nil {
		return "", err
	}
	d.cluster = c
	d.timings.controlPlane = time.Since(began)
	return fmt.Sprintf("API server %s up in %s; kubeconfig: %s", c.host(), seconds(d.timings.controlPlane), d.rel(c.kubeconfig)), nil
}

func (d *demo) startKV(ctx context.Context) (string, error) {
	d.out.info("an etcd server inside the demo's own process (the manager's embedded default, no install)")
	kv, err := startKV(ctx, filepath.Join(d.dir, "kv"), filepath.Join(d.dir, "logs", "etcd.log"))
	if err != nil {
		return "", err
	}
	d.kv = kv
	if err := os.WriteFile(filepath.Join(d.dir, endpointFile), []byte(kv.endpoint()+"\n"), 0o644); err != nil {
		return "", err
	}
	return fmt.Sprintf("etcd serving at %s: KVMirrors read it, and the replicas elect their leader on it", kv.endpoint()), nil
}

func (d *demo) installCRD(ctx context.Context) (string, error) {
	if _, err := d.kubectl(ctx, "apply", "-f", "config/crd/bases"); err != nil {
		return "", err
	}
	wait := fmt.Sprintf("--timeout=%s", d.cfg.wait)
	if _, err := d.kubectl(ctx, "wait", "--for=condition=Established", "crd/kvmirrors.kvmirror.io", wait); err != nil {
		return "", err
	}
	return "CRD kvmirrors.kvmirror.io established: the API server serves KVMirrors", nil
}

func (d *demo) startReplicas(ctx context.Context) (string, error) {
	args := replicaArgs{manager: d.manager, kubeconfig: d.cluster.kubeconfig, store: d.kv.endpoint(), logDir: filepath.Join(d.dir, "logs")}
	for _, id := range identities {
		r, err := startReplica(ctx, args, id, d.cfg.wait)
		if err != nil {
			return "", err
		}
		d.replicas = append(d.replicas, r)
		d.out.command(d.rel(d.manager), d.relArgs(r.args)...)
		d.out.info("  %s: pid %d, ready (%s), log %s", id, r.pid(), r.probeAddr+"/readyz", d.rel(r.logPath))
	}
	leader, err := d.waitLeader(ctx, "")
	if err != nil {
		return "", err
	}
	d.out.info("the lock key %s in etcd holds the leader's identity: %q", leaderKey, leader)
	return fmt.Sprintf("%s and %s ready; %s leads and runs the controllers, the other waits", identities[0], identities[1], leader), nil
}

// relArgs shortens the paths in the manager's flags for display.
func (d *demo) relArgs(args []string) []string {
	shown := make([]string, len(args))
	for i, a := range args {
		shown[i] = strings.Replace(a, d.root+string(filepath.Separator), "", 1)
	}
	return shown
}

func (d *demo) applyMirror(ctx context.Context) (string, error) {
	path := filepath.Join(d.dir, "kvmirror.yaml")
	manifest := mirrorManifest(d.kv.endpoint())
	if err := os.WriteFile(path, []byte(manifest), 0o644); err != nil {
		return "", err
	}
	d.out.info("%s:", d.rel(path))
	d.out.block(manifest)
	if _, err := d.kubectl(ctx, "apply", "-f", d.rel(path)); err != nil {
		return "", err
	}
	return fmt.Sprintf("KVMirror %s/%s created: it mirrors %s/ of etcd %s into the ConfigMap %s", namespace, mirrorName, prefix, d.kv.endpoint(), mirrorName), nil
}

// mirrorManifest is the KVMirror the demo applies, pointed at the demo's etcd.
func mirrorManifest(endpoint string) string {
	return fmt.Sprintf(`apiVersion: kvmirror.io/v1alpha1
kind: KVMirror
metadata:
  name: %s
  namespace: %s
spec:
  backend:
    type: etcd
    endpoints: ["%s"]  # the demo's embedded etcd
  prefix: %s  # every key below it becomes a ConfigMap key
  target:
    separator: "."  # demo/app/db/host -> db.host
`, mirrorName, namespace, endpoint, prefix)
}

func (d *demo) put(ctx context.Context, key, value string) error {
	d.out.info("put %s = %q", key, value)
	return d.kv.store.Put(ctx, key, []byte(value), nil)
}

func (d *demo) del(ctx context.Context, key string) error {
	d.out.info("delete %s", key)
	return d.kv.store.Delete(ctx, key)
}

// waitMirrored waits until the ConfigMap holds want and returns how long that took since since,
// the start of the writes: the time a reader of the ConfigMap waits for a change, writes included.
func (d *demo) waitMirrored(ctx context.Context, want map[string]string, since time.Time) (time.Duration, map[string]string, error) {
	got, err := waitConfigMap(ctx, d.cluster.client, client.ObjectKey{Namespace: namespace, Name: mirrorName}, want, d.cfg.wait)
	return time.Since(since), got, err
}

func (d *demo) writeKeys(ctx context.Context) (string, error) {
	d.out.info("writing with kvstore's etcd backend, as any program would:")
	writes := [][2]string{
		{prefix + "/db/host", "db.internal.example"},
		{prefix + "/db/port", "5432"},
		{prefix + "/feature/flags", "dark-mode,beta-search"},
		{"demo/other/key", "outside the prefix: not mirrored"},
	}
	written := time.Now()
	for _, w := range writes {
		if err := d.put(ctx, w[0], w[1]); err != nil {
			return "", err
		}
	}
	d.want = map[string]string{"db.host": "db.internal.example", "db.port": "5432", "feature.flags": "dark-mode,beta-search"}
	took, _, err := d.waitMirrored(ctx, d.want, written)
	if err != nil {
		return "", err
	}
	d.timings.firstMirror = took
	if _, err := d.kubectl(ctx, "get", "configmap", mirrorName, "-n", namespace, "-o", "yaml"); err != nil {
		return "", err
	}
	return fmt.Sprintf("ConfigMap %s holds the 3 keys under %s/ (and not demo/other/key), %s after the first write", mirrorName, prefix, seconds(took)), nil
}

func (d *demo) showMirror(ctx context.Context) (string, error) {
	var m v1alpha1.KVMirror
	key := client.ObjectKey{Namespace: namespace, Name: mirrorName}
	err := poll(ctx, d.cfg.wait, "KVMirror status Ready=True with 3 keys", func(ctx context.Context) error {
		if err := d.cluster.client.Get(ctx, key, &m); err != nil {
			return err
		}
		ready := findReady(m.Status.Conditions)
		if ready == nil || ready.Status != metav1.ConditionTrue || m.Status.KeyCount != 3 || m.Status.ObservedGeneration != m.Generation {
			return fmt.Errorf("status %+v", m.Status)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if _, err := d.kubectl(ctx, "get", "kvmirrors", "-n", namespace, "-o", "wide"); err != nil {
		return "", err
	}
	ready := findReady(m.Status.Conditions)
	return fmt.Sprintf("%s: Ready=%s (%s), %d keys, %d bytes, backend index %d", mirrorName, ready.Status, ready.Reason,
		m.Status.KeyCount, m.Status.Bytes, m.Status.BackendIndex), nil
}

func findReady(conds []metav1.Condition) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == v1alpha1.ConditionReady {
			return &conds[i]
		}
	}
	return nil
}

func (d *demo) updateKeys(ctx context.Context) (string, error) {
	written := time.Now()
	if err := d.put(ctx, prefix+"/db/host", "db-2.internal.example"); err != nil {
		return "", err
	}
	if err := d.del(ctx, prefix+"/feature/flags"); err != nil {
		return "", err
	}
	d.want["db.host"] = "db-2.internal.example"
	delete(d.want, "feature.flags")
	took, got, err := d.waitMirrored(ctx, d.want, written)
	if err != nil {
		return "", err
	}
	d.timings.update = took
	d.out.data(mirrorName, got)
	return fmt.Sprintf("ConfigMap followed: db.host updated, feature.flags removed, %s after the first write", seconds(took)), nil
}
