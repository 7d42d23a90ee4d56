package deploy_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

// manager is the manager binary, built once from cmd/manager for the tests that run it.
var manager struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

func managerBinary(t *testing.T) string {
	t.Helper()
	manager.once.Do(func() {
		if manager.dir, manager.err = os.MkdirTemp("", "kvmirror-deploy-manager-"); manager.err != nil {
			return
		}
		manager.bin = filepath.Join(manager.dir, "manager")
		cmd := exec.Command("go", "build", "-o", manager.bin, "./cmd/manager")
		cmd.Dir = moduleRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			manager.err = fmt.Errorf("go build ./cmd/manager: %w\n%s", err, out)
		}
	})
	if manager.err != nil {
		t.Fatal(manager.err)
	}
	return manager.bin
}

// The manager accepts the Deployment's arguments as the kubelet passes them, variables
// expanded: a flag it does not define, or a value it cannot parse, would crash-loop every
// replica, and no other test would notice.
func TestManagerAcceptsDeploymentArgs(t *testing.T) {
	t.Parallel()
	_, objs := installer(t)
	var dep appsv1.Deployment
	find(t, objs, "Deployment", managerName, &dep)
	c := dep.Spec.Template.Spec.Containers[0]
	if want := []string{"/manager"}; !slices.Equal(c.Command, want) {
		t.Errorf("command %q, want %q, where the Dockerfile puts the binary", c.Command, want)
	}
	args := expandArgs(t, objs, c, managerName+"-7d9f8b6c5-x2k4p")
	// -h comes last: the flag package parses every argument before it, exits 2 at the first one
	// it rejects, and exits 0 at -h without starting anything.
	cmd := exec.CommandContext(t.Context(), managerBinary(t), append(args, "-h")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("manager %q: %v\n%s", args, err, out)
	}
}

// The image runs the binary the Deployment names, as a numeric non-root user: the kubelet can
// verify runAsNonRoot only against a numeric USER, and refuses to start the pod otherwise.
func TestDockerfileMatchesDeployment(t *testing.T) {
	t.Parallel()
	data := readFile(t, filepath.Join(moduleRoot(), "Dockerfile"))
	if !regexp.MustCompile(`(?m)^ENTRYPOINT \["/manager"\]$`).MatchString(data) {
		t.Error(`Dockerfile: want ENTRYPOINT ["/manager"]`)
	}
	m := regexp.MustCompile(`(?m)^USER (\d+)(?::(\d+))?$`).FindStringSubmatch(data)
	if m == nil {
		t.Fatal("Dockerfile: want a numeric USER uid[:gid]")
	}
	if uid, _ := strconv.Atoi(m[1]); uid == 0 {
		t.Error("Dockerfile: USER is root")
	}
}
