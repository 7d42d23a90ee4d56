package testserver

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// ConsulKV runs `consul kv <subcommand> -http-addr=<endpoints[0]> <args...>` with the Consul
// binary the servers run, and returns what it printed; a failure fails the test with Consul's
// own message. Tests of data that other tools wrote use it to write and read keys exactly as
// Consul's users do:
//
//	testserver.ConsulKV(t, srv.Endpoints, "put", "-flags=42", "app/db/host", "x")
//	testserver.ConsulKV(t, srv.Endpoints, "get", "app/db/host") // "x\n"
//
// The address goes before args because consul stops reading options at the first argument.
// The server must serve plain HTTP without ACLs (no WithTLS nor WithAuth).
func ConsulKV(t testing.TB, endpoints []string, subcommand string, args ...string) string {
	t.Helper()
	RequireBinaries(t, "consul "+ConsulVersion, ConsulBinary())
	argv := append([]string{"kv", subcommand, "-http-addr=" + endpoints[0]}, args...)
	cmd := exec.CommandContext(t.Context(), ConsulBinary(), argv...)
	// The environment could point the CLI at another agent or give it a token.
	cmd.Env = []string{}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("consul kv %s %s: %v: %s", subcommand, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}
