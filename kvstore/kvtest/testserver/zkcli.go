package testserver

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// ZkCliScript is ZooKeeper's command-line client, from the same Debian package as the server.
const ZkCliScript = "/usr/share/zookeeper/bin/zkCli.sh"

// ZkCli runs commands, one zkCli command line each (`create /app "x"`, `set /app y`, `get
// /app`), in one session of ZooKeeper's own command-line client against endpoints, and returns
// what they printed, without zkCli's banner and session events: `get` prints the node's data and
// a newline. Every command runs, in order; if any fails (zkCli then prints its error and goes
// on), the test fails with zkCli's messages. The client is a JVM that takes about a second to
// start, so batch the commands of one step into one call. The server must serve plain TCP
// without authentication (no WithTLS nor WithAuth).
func ZkCli(t testing.TB, endpoints []string, commands ...string) string {
	t.Helper()
	RequireBinaries(t, "zkCli (Debian package zookeeper)", ZkCliScript, javaBin)
	cmd := exec.CommandContext(t.Context(), ZkCliScript, "-server", strings.Join(endpoints, ","))
	cmd.Stdin = strings.NewReader(strings.Join(commands, "\n") + "\n")
	// A small heap and the quick JIT tier, as for the servers: the client lives a second.
	cmd.Env = append(cmd.Environ(), "CLIENT_JVMFLAGS=-Xmx64m -XX:+UseSerialGC -XX:TieredStopAtLevel=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("zkCli %q: %v: %s", commands, err, stderr.String())
	}
	if failures := zkCliFailures(stderr.String()); len(failures) > 0 {
		t.Fatalf("zkCli %q failed:\n%s", commands, strings.Join(failures, "\n"))
	}
	return zkCliOutput(string(out))
}

// zkCliFailures returns the lines of zkCli's stderr that report a failed command. The others
// are the "Created /path" of a successful create and SLF4J's complaint that it has no logger.
func zkCliFailures(stderr string) []string {
	var failures []string
	sc := bufio.NewScanner(strings.NewReader(stderr))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "Created /") || strings.HasPrefix(line, "SLF4J:") {
			continue
		}
		failures = append(failures, line)
	}
	return failures
}

// zkCliOutput strips zkCli's stdout of what it prints besides the commands' answers: the banner
// up to the session's first event, and each session event (a blank line, "WATCHER::", a blank
// line and the event).
func zkCliOutput(stdout string) string {
	const connected = "WatchedEvent state:SyncConnected type:None path:null\n"
	if i := strings.Index(stdout, connected); i >= 0 {
		stdout = stdout[i+len(connected):]
	}
	for {
		i := strings.Index(stdout, "\nWATCHER::\n\nWatchedEvent ")
		if i < 0 {
			return stdout
		}
		end := strings.IndexByte(stdout[i+len("\nWATCHER::\n\n"):], '\n')
		if end < 0 {
			return stdout[:i]
		}
		stdout = stdout[:i] + stdout[i+len("\nWATCHER::\n\n")+end+1:]
	}
}
