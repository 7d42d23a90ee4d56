package deploy_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kvmirror/kvmirror/internal/testcluster"
)

var kvmirrors = schema.GroupVersionResource{Group: "kvmirror.io", Version: "v1alpha1", Resource: "kvmirrors"}

// tenantNamespace is where the permission checks put the objects a mirror would read and write.
const tenantNamespace = "team-a"

// TestDeployOnCluster runs `make deploy` against a fresh API server, then checks what it created
// there: the installer file matches it, Pod Security admission accepts the manager's pod, and the
// manager's ServiceAccount can do what the manager does and nothing more.
func TestDeployOnCluster(t *testing.T) {
	t.Parallel()
	path, _ := installer(t)
	kubectl, mk := tool(t, "kubectl"), tool(t, "make")
	env := testcluster.Environment(t)
	kubeconfig := testcluster.KubeconfigFile(t, env)

	kubeEnv := []string{"KUBECONFIG=" + kubeconfig}
	// install first, as a user who tries the CRD alone would; then deploy twice: the first run
	// installs the manager, the second is an upgrade to the same manifests, which server-side
	// apply must take without a field conflict.
	for _, target := range []string{"install", "deploy", "deploy"} {
		if out, err := runMake(mk, kubectl, kubeEnv, target); err != nil {
			t.Fatalf("make %s: %v\n%s", target, err, out)
		}
	}
	// build-installer's file holds the same objects: each is on the server, and applying the
	// file over them is accepted (server-side dry run: validation and admission, no change).
	for _, args := range [][]string{
		{"get", "-f", path, "-o", "name"},
		{"apply", "--server-side", "--dry-run=server", "-f", path},
	} {
		cmd := exec.CommandContext(t.Context(), kubectl, append([]string{"--kubeconfig", kubeconfig}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	admin := newClients(t, env.Config)
	dep, err := admin.core.AppsV1().Deployments(systemNamespace).Get(t.Context(), managerName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("pod security admission", func(t *testing.T) { checkPodSecurity(t, admin, dep) })
	t.Run("service account rights", func(t *testing.T) { checkServiceAccount(t, env.Config, admin, dep) })

	// Last, as it removes the CRD. (undeploy is not run: it deletes the namespace, which no
	// controller finalizes on this bare API server, so kubectl would wait for ever.)
	t.Run("make uninstall", func(t *testing.T) {
		if out, err := runMake(mk, kubectl, kubeEnv, "uninstall"); err != nil {
			t.Fatalf("make uninstall: %v\n%s", err, out)
		}
		_, err := admin.dyn.Resource(kvmirrors).List(t.Context(), metav1.ListOptions{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("listing KVMirrors after uninstall: %v, want NotFound", err)
		}
	})
}

type clients struct {
	core kubernetes.Interface
	dyn  dynamic.Interface
}

func newClients(t *testing.T, cfg *rest.Config) clients {
	t.Helper()
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(httpClient.CloseIdleConnections)
	core, err := kubernetes.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	return clients{core: core, dyn: dyn}
}

// checkPodSecurity creates, as a server-side dry run, a pod from the deployed Deployment's
// template in its namespace, whose label enforces the restricted profile. A pod that breaks
// the profile is checked too, to show that the admission plugin is at work.
func checkPodSecurity(t *testing.T, admin clients, dep *appsv1.Deployment) {
	ns, err := admin.core.CoreV1().Namespaces().Get(t.Context(), dep.Namespace, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if level := ns.Labels["pod-security.kubernetes.io/enforce"]; level != "restricted" {
		t.Errorf("namespace %s enforces Pod Security level %q, want restricted", ns.Name, level)
	}
	podFrom := func(name string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: dep.Namespace, Labels: dep.Spec.Template.Labels},
			Spec:       *dep.Spec.Template.Spec.DeepCopy(),
		}
	}
	dryRun := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	if _, err := admin.core.CoreV1().Pods(dep.Namespace).Create(t.Context(), podFrom("manager"), dryRun); err != nil {
		t.Errorf("the manager's pod is refused: %v", err)
	}
	bad := podFrom("escalating")
	escalate := true
	bad.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = &escalate
	_, err = admin.core.CoreV1().Pods(dep.Namespace).Create(t.Context(), bad, dryRun)
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "PodSecurity") {
		t.Errorf("a pod that allows privilege escalation: %v, want a PodSecurity refusal", err)
	}
}

// permission is one request the manager's ServiceAccount makes. allowed: it must succeed, or
// fail with NotFound, which the API server answers only after authorizing the request.
// Otherwise it must be Forbidden.
type permission struct {
	what    string
	allowed bool
	call    func(ctx context.Context) error
}

// checkServiceAccount impersonates the ServiceAccount the deployed manager runs as, with the
// groups its token would carry, and makes the manager's requests and some it must never make.
func checkServiceAccount(t *testing.T, adminCfg *rest.Config, admin clients, dep *appsv1.Deployment) {
	sa := dep.Spec.Template.Spec.ServiceAccountName
	if _, err := admin.core.CoreV1().ServiceAccounts(dep.Namespace).Get(t.Context(), sa, metav1.GetOptions{}); err != nil {
		t.Fatalf("the Deployment's ServiceAccount: %v", err)
	}
	setupTenant(t, admin)
	cfg := rest.CopyConfig(adminCfg)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + dep.Namespace + ":" + sa,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + dep.Namespace, "system:authenticated"},
	}
	as := newClients(t, cfg)
	for _, p := range append(managerNeeds(as), managerMustNot(as)...) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		err := p.call(ctx)
		cancel()
		switch {
		case p.allowed && err != nil && !apierrors.IsNotFound(err):
			t.Errorf("%s as %s: %v, want allowed", p.what, cfg.Impersonate.UserName, err)
		case !p.allowed && !apierrors.IsForbidden(err):
			t.Errorf("%s as %s: %v, want Forbidden", p.what, cfg.Impersonate.UserName, err)
		}
	}
}

// setupTenant makes, as an administrator, the namespace and Secret a mirror would use.
func setupTenant(t *testing.T, admin clients) {
	t.Helper()
	ctx := t.Context()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: tenantNamespace}}
	if _, err := admin.core.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "backend-credentials", Namespace: tenantNamespace},
		StringData: map[string]string{"username": "mirror", "password": "secret"},
	}
	if _, err := admin.core.CoreV1().Secrets(tenantNamespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// managerNeeds are the requests of the reconciler and its caches, in an order where each
// finds what the previous ones made. KVMirrors are looked up by a name that does not exist,
// which needs no valid spec and still shows whether the request was authorized.
func managerNeeds(as clients) []permission {
	cms := as.core.CoreV1().ConfigMaps(tenantNamespace)
	secrets := as.core.CoreV1().Secrets(tenantNamespace)
	mirrors := as.dyn.Resource(kvmirrors)
	absent := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kvmirror.io/v1alpha1", "kind": "KVMirror",
		"metadata": map[string]any{"name": "absent", "namespace": tenantNamespace},
	}}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "mirror", Namespace: tenantNamespace},
		Data:       map[string]string{"db.host": "db-0"},
	}
	return []permission{
		{"list KVMirrors in every namespace", true, func(ctx context.Context) error {
			_, err := mirrors.List(ctx, metav1.ListOptions{})
			return err
		}},
		{"watch KVMirrors in every namespace", true, watchOnce(mirrors.Watch)},
		{"get a KVMirror", true, func(ctx context.Context) error {
			_, err := mirrors.Namespace(tenantNamespace).Get(ctx, "absent", metav1.GetOptions{})
			return err
		}},
		{"update a KVMirror's status", true, func(ctx context.Context) error {
			_, err := mirrors.Namespace(tenantNamespace).UpdateStatus(ctx, absent, metav1.UpdateOptions{})
			return err
		}},
		{"patch a KVMirror's status", true, func(ctx context.Context) error {
			_, err := mirrors.Namespace(tenantNamespace).Patch(ctx, "absent", types.MergePatchType,
				[]byte(`{"status":{"keyCount":1}}`), metav1.PatchOptions{}, "status")
			return err
		}},
		// The ConfigMap's controller owner reference has blockOwnerDeletion, which the
		// OwnerReferencesPermissionEnforcement admission plugin (OpenShift, hardened clusters)
		// allows only to whoever may update the owner's finalizers. The API server here does
		// not run that plugin, so its authorization check is asked directly.
		{"update KVMirror finalizers (blockOwnerDeletion)", true, func(ctx context.Context) error {
			return accessReview(ctx, as, authorizationv1.ResourceAttributes{
				Namespace: tenantNamespace, Verb: "update", Group: "kvmirror.io", Resource: "kvmirrors", Subresource: "finalizers",
			})
		}},
		{"list ConfigMaps in every namespace", true, func(ctx context.Context) error {
			_, err := as.core.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{})
			return err
		}},
		{"watch ConfigMaps in every namespace", true, watchOnce(as.core.CoreV1().ConfigMaps("").Watch)},
		{"create a ConfigMap", true, func(ctx context.Context) error {
			_, err := cms.Create(ctx, cm, metav1.CreateOptions{})
			return err
		}},
		{"get a ConfigMap", true, func(ctx context.Context) error {
			_, err := cms.Get(ctx, cm.Name, metav1.GetOptions{})
			return err
		}},
		{"update a ConfigMap", true, func(ctx context.Context) error {
			cur, err := cms.Get(ctx, cm.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur.Data["db.port"] = "5432"
			_, err = cms.Update(ctx, cur, metav1.UpdateOptions{})
			return err
		}},
		{"patch a ConfigMap", true, func(ctx context.Context) error {
			_, err := cms.Patch(ctx, cm.Name, types.MergePatchType, []byte(`{"data":{"db.user":"app"}}`), metav1.PatchOptions{})
			return err
		}},
		{"delete a ConfigMap", true, func(ctx context.Context) error {
			return cms.Delete(ctx, cm.Name, metav1.DeleteOptions{})
		}},
		{"get a Secret", true, func(ctx context.Context) error {
			_, err := secrets.Get(ctx, "backend-credentials", metav1.GetOptions{})
			return err
		}},
		{"list Secrets in every namespace", true, func(ctx context.Context) error {
			_, err := as.core.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})
			return err
		}},
		{"watch Secrets in every namespace", true, watchOnce(as.core.CoreV1().Secrets("").Watch)},
		{"create an Event", true, func(ctx context.Context) error {
			_, err := as.core.CoreV1().Events(tenantNamespace).Create(ctx, coreEvent(), metav1.CreateOptions{})
			return err
		}},
		{"patch an Event", true, func(ctx context.Context) error {
			_, err := as.core.CoreV1().Events(tenantNamespace).Patch(ctx, coreEvent().Name, types.MergePatchType,
				[]byte(`{"count":2}`), metav1.PatchOptions{})
			return err
		}},
		{"create an events.k8s.io Event", true, func(ctx context.Context) error {
			_, err := as.core.EventsV1().Events(tenantNamespace).Create(ctx, newEvent(), metav1.CreateOptions{})
			return err
		}},
	}
}

// managerMustNot are requests the manager never makes; each would widen what a compromised
// manager could do.
func managerMustNot(as clients) []permission {
	secrets := as.core.CoreV1().Secrets(tenantNamespace)
	mirrors := as.dyn.Resource(kvmirrors).Namespace(tenantNamespace)
	return []permission{
		{"create a Secret", false, func(ctx context.Context) error {
			s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "stolen", Namespace: tenantNamespace}}
			_, err := secrets.Create(ctx, s, metav1.CreateOptions{})
			return err
		}},
		{"patch a Secret", false, func(ctx context.Context) error {
			_, err := secrets.Patch(ctx, "backend-credentials", types.MergePatchType, []byte(`{"data":{}}`), metav1.PatchOptions{})
			return err
		}},
		{"delete a Secret", false, func(ctx context.Context) error {
			return secrets.Delete(ctx, "backend-credentials", metav1.DeleteOptions{})
		}},
		{"delete every ConfigMap of a namespace", false, func(ctx context.Context) error {
			return as.core.CoreV1().ConfigMaps(tenantNamespace).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
		}},
		{"patch a KVMirror's spec", false, func(ctx context.Context) error {
			_, err := mirrors.Patch(ctx, "absent", types.MergePatchType, []byte(`{"spec":{"suspend":true}}`), metav1.PatchOptions{})
			return err
		}},
		{"delete a KVMirror", false, func(ctx context.Context) error {
			return mirrors.Delete(ctx, "absent", metav1.DeleteOptions{})
		}},
		{"create a Lease", false, func(ctx context.Context) error {
			l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "kvmirror", Namespace: systemNamespace}}
			_, err := as.core.CoordinationV1().Leases(systemNamespace).Create(ctx, l, metav1.CreateOptions{})
			return err
		}},
		{"get a Lease", false, func(ctx context.Context) error {
			_, err := as.core.CoordinationV1().Leases(systemNamespace).Get(ctx, "kvmirror", metav1.GetOptions{})
			return err
		}},
		{"list Deployments", false, func(ctx context.Context) error {
			_, err := as.core.AppsV1().Deployments("").List(ctx, metav1.ListOptions{})
			return err
		}},
		{"list Pods", false, func(ctx context.Context) error {
			_, err := as.core.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
			return err
		}},
		{"list Namespaces", false, func(ctx context.Context) error {
			_, err := as.core.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
			return err
		}},
		{"bind itself to cluster-admin", false, func(ctx context.Context) error {
			b := &rbacv1.ClusterRoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: "kvmirror-escalation"},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
				Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: managerName, Namespace: systemNamespace}},
			}
			_, err := as.core.RbacV1().ClusterRoleBindings().Create(ctx, b, metav1.CreateOptions{})
			return err
		}},
	}
}

// watchOnce opens a watch and closes it: opening it is what needs the permission.
func watchOnce[W interface{ Stop() }](open func(context.Context, metav1.ListOptions) (W, error)) func(context.Context) error {
	return func(ctx context.Context) error {
		w, err := open(ctx, metav1.ListOptions{})
		if err == nil {
			w.Stop()
		}
		return err
	}
}

// accessReview asks the API server whether the caller may make a request, and answers as the
// request would have: nil or Forbidden.
func accessReview(ctx context.Context, as clients, attrs authorizationv1.ResourceAttributes) error {
	review := &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attrs},
	}
	got, err := as.core.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("access review: %w", err)
	}
	if !got.Status.Allowed {
		gr := schema.GroupResource{Group: attrs.Group, Resource: attrs.Resource + "/" + attrs.Subresource}
		return apierrors.NewForbidden(gr, "", fmt.Errorf("access review denied (reason %q)", got.Status.Reason))
	}
	return nil
}

func coreEvent() *corev1.Event {
	now := metav1.Now()
	return &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: "mirror.synced", Namespace: tenantNamespace},
		InvolvedObject: corev1.ObjectReference{
			APIVersion: "kvmirror.io/v1alpha1", Kind: "KVMirror", Namespace: tenantNamespace, Name: "mirror",
		},
		Reason: "Synced", Message: "mirrored 1 key", Type: corev1.EventTypeNormal,
		Source:         corev1.EventSource{Component: "kvmirror"},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
	}
}

func newEvent() *eventsv1.Event {
	return &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: "mirror.synced-v1", Namespace: tenantNamespace},
		EventTime:  metav1.NowMicro(),
		Regarding: corev1.ObjectReference{
			APIVersion: "kvmirror.io/v1alpha1", Kind: "KVMirror", Namespace: tenantNamespace, Name: "mirror",
		},
		Reason: "Synced", Action: "Sync", Note: "mirrored 1 key", Type: corev1.EventTypeNormal,
		ReportingController: "kvmirror.io/manager", ReportingInstance: managerName + "-0",
	}
}
