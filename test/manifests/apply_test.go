package manifests

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kvmirror/kvmirror/internal/testcluster"
)

// kubectl runs kubectl against one API server, as a user would.
type kubectl struct {
	bin, kubeconfig string
}

func (k kubectl) run(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), k.bin, append([]string{"--kubeconfig", k.kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

func (k kubectl) mustRun(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := k.run(t, stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// mirror is a KVMirror manifest with the given spec lines (indented under spec:).
func mirror(name, spec string) string {
	return "apiVersion: kvmirror.io/v1alpha1\nkind: KVMirror\nmetadata:\n  name: " + name + "\nspec:\n" + spec
}

const etcdBackend = "  backend:\n    type: etcd\n    endpoints: [\"etcd.storage.svc:2379\"]\n"

// TestApply applies KVMirrors with kubectl to a real API server with the generated CRD: invalid
// ones are refused at apply time with a message that says what is wrong, valid ones (the
// samples among them) are accepted with their defaults filled in, and `kubectl get` prints the
// columns users look at.
func TestApply(t *testing.T) {
	k := kubectl{bin: testcluster.Kubectl(t)}
	env := testcluster.Environment(t)
	k.kubeconfig = testcluster.KubeconfigFile(t, env)
	k.mustRun(t, "", "create", "namespace", "apply-test")

	t.Run("invalid specs are refused", func(t *testing.T) {
		for _, tc := range []struct {
			name, spec, want string
		}{
			{"no prefix", etcdBackend, `spec.prefix: Required value`},
			{"no backend", "  prefix: app\n", `spec.backend: Required value`},
			{"root prefix", etcdBackend + "  prefix: /\n", "prefix must name a directory below the root"},
			{"dotdot prefix", etcdBackend + "  prefix: app/../etc\n", "prefix must not contain '.' or '..' segments"},
			{"control character", etcdBackend + "  prefix: \"app\\u0001x\"\n", "prefix must not contain control characters"},
			{"unknown type", "  backend:\n    type: redis\n    endpoints: [\"r:6379\"]\n  prefix: app\n", `Unsupported value: "redis"`},
			{"no endpoints", "  backend:\n    type: etcd\n    endpoints: []\n  prefix: app\n", "should have at least 1 items"},
			{"endpoint with scheme", "  backend:\n    type: etcd\n    endpoints: [\"http://etcd:2379\"]\n  prefix: app\n", "must be host:port, without a scheme"},
			{"endpoint without port", "  backend:\n    type: consul\n    endpoints: [\"consul\"]\n  prefix: app\n", "must be host:port"},
			{"boltdb without bucket", "  backend:\n    type: boltdb\n    endpoints: [\"/data/kv.db\"]\n  prefix: app\n", "bucket is required when type is boltdb"},
			{"bucket on etcd", "  backend:\n    type: etcd\n    endpoints: [\"e:2379\"]\n    bucket: b\n  prefix: app\n", "bucket applies only to type boltdb"},
			{"relative boltdb path", "  backend:\n    type: boltdb\n    endpoints: [\"kv.db\"]\n    bucket: b\n  prefix: app\n", "the absolute path of the database file"},
			{"boltdb with credentials", "  backend:\n    type: boltdb\n    endpoints: [\"/kv.db\"]\n    bucket: b\n    credentialsSecretRef: {name: s}\n  prefix: app\n", "tlsSecretRef and credentialsSecretRef do not apply"},
			{"bad secret name", "  backend:\n    type: etcd\n    endpoints: [\"e:2379\"]\n    credentialsSecretRef: {name: Not_A_Name}\n  prefix: app\n", "spec.backend.credentialsSecretRef.name: Invalid value: \"Not_A_Name\": must be a Secret name"},
			{"zero timeout", "  backend:\n    type: etcd\n    endpoints: [\"e:2379\"]\n    connectionTimeout: 0s\n  prefix: app\n", "connectionTimeout must be between 100ms and 5m"},
			{"unparsable timeout", "  backend:\n    type: etcd\n    endpoints: [\"e:2379\"]\n    connectionTimeout: soon\n  prefix: app\n", "spec.backend.connectionTimeout"},
			{"resync too short", etcdBackend + "  prefix: app\n  resyncPeriod: 1s\n", "resyncPeriod must be between 10s and 24h"},
			{"bad separator", etcdBackend + "  prefix: app\n  target: {separator: \"/\"}\n", `spec.target.separator: Unsupported value: "/"`},
			{"bad ConfigMap name", etcdBackend + "  prefix: app\n  target: {configMapName: Bad_Name}\n", "spec.target.configMapName: Invalid value: \"Bad_Name\": must be a ConfigMap name"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				out, errOut, err := k.run(t, mirror("invalid", tc.spec), "apply", "-n", "apply-test", "-f", "-")
				if err == nil {
					t.Fatalf("accepted:\n%s", out)
				}
				if !strings.Contains(errOut, tc.want) {
					t.Fatalf("kubectl said:\n%s\nwant it to mention %q", errOut, tc.want)
				}
			})
		}
	})

	t.Run("samples are valid", func(t *testing.T) {
		out := k.mustRun(t, "", "apply", "-n", "apply-test", "--dry-run=server", "-k", filepath.Join(repoRoot(t), "config", "samples"))
		if n := strings.Count(out, "kvmirror.io/"); n != 5 {
			t.Fatalf("want 5 KVMirrors accepted, got:\n%s", out)
		}
	})

	t.Run("defaults and printer columns", func(t *testing.T) {
		k.mustRun(t, mirror("columns", etcdBackend+"  prefix: /app/config\n"), "apply", "-n", "apply-test", "-f", "-")
		got := k.mustRun(t, "", "get", "kvmirror", "columns", "-n", "apply-test", "-o",
			"jsonpath={.spec.backend.connectionTimeout} {.spec.resyncPeriod} {.spec.target.separator} {.spec.suspend}")
		if want := "10s 5m . "; got != want && got != "10s 5m . false" {
			t.Errorf("defaults: got %q, want %q", got, want)
		}
		// The status is the controller's to write; here it is set by hand to see the columns.
		k.mustRun(t, "", "patch", "kvmirror", "columns", "-n", "apply-test", "--subresource=status", "--type=merge", "-p",
			`{"status":{"keyCount":7,"configMapName":"columns","conditions":[{"type":"Ready","status":"True","reason":"Synced","message":"ok","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}`)
		table := k.mustRun(t, "", "get", "kvm", "-n", "apply-test")
		header := regexp.MustCompile(`^NAME\s+BACKEND\s+PREFIX\s+KEYS\s+READY\s+AGE\n`)
		row := regexp.MustCompile(`(?m)^columns\s+etcd\s+/app/config\s+7\s+True\s+\S+$`)
		if !header.MatchString(table) || !row.MatchString(table) {
			t.Errorf("kubectl get kvm:\n%s", table)
		}
		wide := k.mustRun(t, "", "get", "kvmirrors.kvmirror.io", "-n", "apply-test", "-o", "wide")
		if !regexp.MustCompile(`(?m)^columns\s+etcd\s+/app/config\s+7\s+True\s+Synced\s+columns\s+\S+$`).MatchString(wide) {
			t.Errorf("kubectl get -o wide:\n%s", wide)
		}
	})
}
