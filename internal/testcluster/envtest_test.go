package testcluster_test

import (
	"os/exec"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kvmirror/kvmirror/internal/testcluster"
)

func TestEnvironment(t *testing.T) {
	t.Parallel()
	env := testcluster.Environment(t)
	if len(env.KubeConfig) == 0 {
		t.Error("no kubeconfig")
	}
	cfg := env.Config
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(httpClient.CloseIdleConnections)
	cs, err := kubernetes.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "smoke", Namespace: metav1.NamespaceDefault},
		Data:       map[string]string{"key": "value"},
	}
	if _, err := cs.CoreV1().ConfigMaps(cm.Namespace).Create(t.Context(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := cs.CoreV1().ConfigMaps(cm.Namespace).Get(t.Context(), cm.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Data["key"] != "value" {
		t.Fatalf("got %v", got.Data)
	}

	// The kubeconfig file works for kubectl, as process-level tests use it.
	kubectl := testcluster.Kubectl(t)
	out, err := exec.CommandContext(t.Context(), kubectl, "--kubeconfig", testcluster.KubeconfigFile(t, env),
		"get", "configmap", "smoke", "-n", "default", "-o", "jsonpath={.data.key}").CombinedOutput()
	if err != nil || string(out) != "value" {
		t.Fatalf("kubectl: %q, %v", out, err)
	}
}
