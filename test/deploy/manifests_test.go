package deploy_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
)

// The installer holds exactly the objects a deployment needs, all labelled, namespaced ones in
// kvmirror-system, with IMG in place of the placeholder, and nothing about Leases: leadership is
// a kvstore lock.
func TestInstallerObjects(t *testing.T) {
	t.Parallel()
	_, objs := installer(t)
	want := []string{
		"Namespace//" + systemNamespace,
		"CustomResourceDefinition//kvmirrors.kvmirror.io",
		"ServiceAccount/" + systemNamespace + "/" + managerName,
		"ClusterRole//" + managerRole,
		"ClusterRole//kvmirror-editor-role",
		"ClusterRole//kvmirror-viewer-role",
		"ClusterRoleBinding//" + managerBinding,
		"ConfigMap/" + systemNamespace + "/" + managerConfig,
		"Service/" + systemNamespace + "/" + metricsService,
		"Deployment/" + systemNamespace + "/" + managerName,
		"PodDisruptionBudget/" + systemNamespace + "/" + managerName,
	}
	var got []string
	for _, o := range objs {
		name := o.GetName()
		if strings.HasPrefix(name, managerConfig) {
			name = managerConfig // the hash changes with the content
		}
		got = append(got, o.GetKind()+"/"+o.GetNamespace()+"/"+name)
		if l := o.GetLabels()["app.kubernetes.io/name"]; l != "kvmirror" {
			t.Errorf("%s %s: label app.kubernetes.io/name=%q, want kvmirror", o.GetKind(), o.GetName(), l)
		}
		if strings.Contains(o.GetAPIVersion(), "coordination.k8s.io") {
			t.Errorf("%s %s: the manager elects on a kvstore lock, not on Leases", o.GetKind(), o.GetName())
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("installer objects:\n got  %v\n want %v", got, want)
	}

	var crd unstructured.Unstructured
	find(t, objs, "CustomResourceDefinition", "kvmirrors.kvmirror.io", &crd.Object)
	if g, _, _ := unstructured.NestedString(crd.Object, "spec", "group"); g != "kvmirror.io" {
		t.Errorf("CRD group %q", g)
	}
}

func TestInstallerImage(t *testing.T) {
	t.Parallel()
	path, objs := installer(t)
	var dep appsv1.Deployment
	find(t, objs, "Deployment", managerName, &dep)
	if img := dep.Spec.Template.Spec.Containers[0].Image; img != testImage {
		t.Errorf("manager image %q, want IMG %q", img, testImage)
	}
	if data := readFile(t, path); strings.Contains(data, placeholder) {
		t.Errorf("%s still names %s", path, placeholder)
	}
}

// The manager's ClusterRole grants exactly what the reconciler does: read KVMirrors, write
// their status, own ConfigMaps, read Secrets, record events. A new rule must be added here
// on purpose, which is the point: every widening of the manager's rights gets a review.
func TestManagerRoleIsLeastPrivilege(t *testing.T) {
	t.Parallel()
	_, objs := installer(t)
	var role rbacv1.ClusterRole
	find(t, objs, "ClusterRole", managerRole, &role)
	want := []string{
		"kvmirror.io/kvmirrors:get", "kvmirror.io/kvmirrors:list", "kvmirror.io/kvmirrors:watch",
		"kvmirror.io/kvmirrors/status:get", "kvmirror.io/kvmirrors/status:update", "kvmirror.io/kvmirrors/status:patch",
		// The ConfigMaps carry a controller owner reference with blockOwnerDeletion; where the
		// OwnerReferencesPermissionEnforcement admission plugin runs (OpenShift, hardened
		// clusters), setting it requires update on the owner's finalizers.
		"kvmirror.io/kvmirrors/finalizers:update",
		"/configmaps:get", "/configmaps:list", "/configmaps:watch", "/configmaps:create",
		"/configmaps:update", "/configmaps:patch", "/configmaps:delete",
		"/secrets:get", "/secrets:list", "/secrets:watch",
		"/events:create", "/events:patch", "events.k8s.io/events:create", "events.k8s.io/events:patch",
	}
	got := grants(t, role.Rules)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s grants\n %v\nwant exactly\n %v\nmissing %v, extra %v\n"+
			"(config/rbac/role.yaml comes from the +kubebuilder:rbac markers in controllers/ by `make manifests`)",
			managerRole, got, want, minus(want, got), minus(got, want))
	}
}

// grants flattens rules into group/resource:verb strings, failing on anything that cannot be
// flattened honestly: wildcards, resource names, non-resource URLs.
func grants(t *testing.T, rules []rbacv1.PolicyRule) []string {
	t.Helper()
	var out []string
	for _, r := range rules {
		if len(r.ResourceNames) > 0 || len(r.NonResourceURLs) > 0 {
			t.Errorf("rule %v: resourceNames and nonResourceURLs are not expected", r)
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					if g == "*" || res == "*" || v == "*" {
						t.Errorf("rule %v has a wildcard", r)
					}
					out = append(out, g+"/"+res+":"+v)
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func minus(a, b []string) []string {
	return slices.DeleteFunc(slices.Clone(a), func(s string) bool { return slices.Contains(b, s) })
}

// The roles for people are aggregated into the built-in ones and reach only KVMirrors; status
// is the manager's to write.
func TestUserRolesAreAggregated(t *testing.T) {
	t.Parallel()
	_, objs := installer(t)
	cases := []struct {
		name      string
		aggregate []string
		verbs     []string
	}{
		{"kvmirror-editor-role", []string{"admin", "edit"},
			[]string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}},
		{"kvmirror-viewer-role", []string{"view"}, []string{"get", "list", "watch"}},
	}
	for _, tc := range cases {
		var role rbacv1.ClusterRole
		find(t, objs, "ClusterRole", tc.name, &role)
		for _, to := range tc.aggregate {
			if role.Labels["rbac.authorization.k8s.io/aggregate-to-"+to] != "true" {
				t.Errorf("%s is not aggregated to %s", tc.name, to)
			}
		}
		var want []string
		for _, v := range tc.verbs {
			want = append(want, "kvmirror.io/kvmirrors:"+v)
		}
		want = append(want, "kvmirror.io/kvmirrors/status:get")
		slices.Sort(want)
		if got := grants(t, role.Rules); !slices.Equal(got, want) {
			t.Errorf("%s grants %v, want %v", tc.name, got, want)
		}
	}
}

// The binding gives the manager role to the ServiceAccount the Deployment runs as, and to no one
// else.
func TestManagerBinding(t *testing.T) {
	t.Parallel()
	_, objs := installer(t)
	var b rbacv1.ClusterRoleBinding
	find(t, objs, "ClusterRoleBinding", managerBinding, &b)
	var dep appsv1.Deployment
	find(t, objs, "Deployment", managerName, &dep)
	if b.RoleRef.Kind != "ClusterRole" || b.RoleRef.Name != managerRole {
		t.Errorf("roleRef %+v", b.RoleRef)
	}
	want := rbacv1.Subject{Kind: "ServiceAccount", Name: dep.Spec.Template.Spec.ServiceAccountName, Namespace: dep.Namespace}
	if len(b.Subjects) != 1 || b.Subjects[0] != want {
		t.Errorf("subjects %+v, want only %+v", b.Subjects, want)
	}
	if want.Name != managerName {
		t.Errorf("serviceAccountName %q, want %q", want.Name, managerName)
	}
}

// The pod passes the restricted Pod Security profile, probes the manager's health endpoints and
// is bounded in resources. The cluster test runs it through Pod Security admission as well.
func TestManagerPodSecurityAndProbes(t *testing.T) {
	t.Parallel()
	_, objs := installer(t)
	var dep appsv1.Deployment
	find(t, objs, "Deployment", managerName, &dep)
	pod := dep.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want the manager alone", len(pod.Containers))
	}
	c := pod.Containers[0]

	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Error("pod: runAsNonRoot is not true")
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("pod: seccompProfile is not RuntimeDefault")
	}
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		t.Error("pod shares a host namespace")
	}
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Fatal("container: no securityContext")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("container: allowPrivilegeEscalation is not false")
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("container: readOnlyRootFilesystem is not true")
	case sc.Privileged != nil && *sc.Privileged:
		t.Error("container: privileged")
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
		t.Errorf("container: capabilities %+v, want drop [ALL] and no add", sc.Capabilities)
	}

	args := flagValues(c.Args)
	healthPort := addrPort(t, args["--health-probe-bind-address"])
	metricsPort := addrPort(t, args["--metrics-bind-address"])
	if healthPort != 8081 || metricsPort != 8080 {
		t.Errorf("manager binds health on %d and metrics on %d, want 8081 and 8080", healthPort, metricsPort)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s probe: none, or not HTTP", p.name)
			continue
		}
		if p.probe.HTTPGet.Path != p.path {
			t.Errorf("%s probe path %q, want %q", p.name, p.probe.HTTPGet.Path, p.path)
		}
		if port := containerPort(t, c, p.probe.HTTPGet.Port.String()); port != healthPort {
			t.Errorf("%s probe on port %d, the manager serves health on %d", p.name, port, healthPort)
		}
	}
	if port := containerPort(t, c, "metrics"); port != metricsPort {
		t.Errorf("container port metrics is %d, the manager serves metrics on %d", port, metricsPort)
	}

	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := c.Resources.Requests[res]
		lim, okLim := c.Resources.Limits[res]
		if !okReq || !okLim || req.Cmp(lim) > 0 {
			t.Errorf("%s: request %v, limit %v; want both, request <= limit", res, req.String(), lim.String())
		}
	}
}

// The replicas elect a leader on a kvstore lock whose store URL comes from the generated
// ConfigMap, under their pod names; shutdown is short because SIGTERM releases the lock.
func TestManagerLeaderElection(t *testing.T) {
	t.Parallel()
	_, objs := installer(t)
	var dep appsv1.Deployment
	find(t, objs, "Deployment", managerName, &dep)
	pod := dep.Spec.Template.Spec
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 2 {
		t.Errorf("replicas %v, want 2: a leader and a standby", dep.Spec.Replicas)
	}
	if g := pod.TerminationGracePeriodSeconds; g == nil || *g > 15 {
		t.Errorf("terminationGracePeriodSeconds %v, want at most 15: SIGTERM releases the lock at once", g)
	}
	if pod.ServiceAccountName != managerName {
		t.Errorf("serviceAccountName %q", pod.ServiceAccountName)
	}
	podName := managerName + "-7d9f8b6c5-x2k4p"
	args := flagValues(expandArgs(t, objs, pod.Containers[0], podName))
	store := args["--leader-elect-store"]
	if !strings.Contains(store, "://") {
		t.Errorf("--leader-elect-store=%q: want the store URL from %s*", store, managerConfig)
	}
	if args["--leader-elect-key"] == "" {
		t.Error("--leader-elect-key is empty")
	}
	if id := args["--leader-elect-identity"]; id != podName {
		t.Errorf("--leader-elect-identity=%q, want the pod name %q", id, podName)
	}

	var pdb policyv1.PodDisruptionBudget
	find(t, objs, "PodDisruptionBudget", managerName, &pdb)
	if !selects(t, pdb.Spec.Selector, dep.Spec.Template.Labels) {
		t.Error("the PodDisruptionBudget does not select the manager's pods")
	}
	// minAvailable equal to replicas would block every node drain.
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() < 1 || pdb.Spec.MinAvailable.IntValue() >= int(*dep.Spec.Replicas) {
		t.Errorf("PodDisruptionBudget minAvailable %v, want at least 1 and below replicas", pdb.Spec.MinAvailable)
	}
}

// The metrics Service reaches every replica's metrics port, and the optional ServiceMonitor
// (config/prometheus) scrapes that Service.
func TestMetricsService(t *testing.T) {
	t.Parallel()
	_, objs := installer(t)
	var dep appsv1.Deployment
	find(t, objs, "Deployment", managerName, &dep)
	var svc corev1.Service
	find(t, objs, "Service", metricsService, &svc)
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(dep.Spec.Template.Labels)) || len(svc.Spec.Selector) == 0 {
		t.Errorf("Service selector %v does not select the manager's pods %v", svc.Spec.Selector, dep.Spec.Template.Labels)
	}
	if len(svc.Spec.Ports) != 1 {
		t.Fatalf("Service ports %+v, want one", svc.Spec.Ports)
	}
	sp := svc.Spec.Ports[0]
	if port := containerPort(t, dep.Spec.Template.Spec.Containers[0], sp.TargetPort.String()); port != 8080 {
		t.Errorf("Service targets container port %d, want the metrics port 8080", port)
	}

	monitors := render(t, "config/prometheus")
	mon := find(t, monitors, "ServiceMonitor", "", nil)
	if mon.GetNamespace() != svc.Namespace {
		t.Errorf("ServiceMonitor in %q, Service in %q", mon.GetNamespace(), svc.Namespace)
	}
	sel, _, _ := unstructured.NestedStringMap(mon.Object, "spec", "selector", "matchLabels")
	if len(sel) == 0 || !labels.SelectorFromSet(sel).Matches(labels.Set(svc.Labels)) {
		t.Errorf("ServiceMonitor selector %v does not select the Service's labels %v", sel, svc.Labels)
	}
	eps, _, _ := unstructured.NestedSlice(mon.Object, "spec", "endpoints")
	if len(eps) != 1 || eps[0].(map[string]any)["port"] != sp.Name {
		t.Errorf("ServiceMonitor endpoints %v, want port %q", eps, sp.Name)
	}
}

// flagValues maps --name=value arguments to their values.
func flagValues(args []string) map[string]string {
	out := map[string]string{}
	for _, a := range args {
		name, value, _ := strings.Cut(a, "=")
		out[name] = value
	}
	return out
}

func addrPort(t *testing.T, addr string) int32 {
	t.Helper()
	var port int32
	if _, err := fmt.Sscanf(addr[strings.LastIndex(addr, ":")+1:], "%d", &port); err != nil {
		t.Errorf("address %q: %v", addr, err)
	}
	return port
}

// containerPort resolves a probe's or Service's port, a name or a number, on the container.
func containerPort(t *testing.T, c corev1.Container, port string) int32 {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == port || fmt.Sprint(p.ContainerPort) == port {
			return p.ContainerPort
		}
	}
	t.Errorf("container %s has no port %q", c.Name, port)
	return 0
}

// expandArgs does what the kubelet does to the container's args: $(VAR) is replaced by the
// variable's value, here read from the rendered ConfigMaps and the downward API.
func expandArgs(t *testing.T, objs []*unstructured.Unstructured, c corev1.Container, podName string) []string {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			if ref.Optional != nil && *ref.Optional {
				t.Errorf("env %s is optional: a replica without it would run without an election", e.Name)
			}
			var cm corev1.ConfigMap
			if obj := find(t, objs, "ConfigMap", ref.Name, &cm); obj.GetName() != ref.Name {
				t.Fatalf("env %s names ConfigMap %q, the installer has %q", e.Name, ref.Name, obj.GetName())
			}
			v, ok := cm.Data[ref.Key]
			if !ok {
				t.Errorf("env %s: ConfigMap %s has no key %s", e.Name, ref.Name, ref.Key)
			}
			env[e.Name] = v
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			env[e.Name] = podName
		default:
			t.Errorf("env %s: unexpected source %+v", e.Name, e.ValueFrom)
		}
	}
	var out []string
	for _, a := range c.Args {
		for name, v := range env {
			a = strings.ReplaceAll(a, "$("+name+")", v)
		}
		if strings.Contains(a, "$(") {
			t.Errorf("argument %q names an undefined variable: the kubelet would pass it as is", a)
		}
		out = append(out, a)
	}
	return out
}

// selects reports whether a label selector matches the given labels; an empty selector
// selects nothing here, because it would select every pod of the namespace.
func selects(t *testing.T, sel *metav1.LabelSelector, set map[string]string) bool {
	t.Helper()
	if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Errorf("selector %v: %v", sel, err)
		return false
	}
	return s.Matches(labels.Set(set))
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
