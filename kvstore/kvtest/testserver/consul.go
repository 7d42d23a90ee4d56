package testserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"testing"
)

const consulNode = "kvmirror-test"

// Consul starts a single Consul server agent for the test, with its HTTP API on Endpoints[0].
//
// It is a real server (bootstrap_expect 1) rather than `consul agent -dev`, because -dev keeps
// its data in memory and a test that restarts the server expects the data to survive.
// session_ttl_min is 1s so that lock tests can use short TTLs. DNS, WAN gossip and gRPC are off.
//
// With WithTLS, the HTTP API is served only on an HTTPS port that requires a client
// certificate. With WithAuth, ACLs are on with default policy deny, and Token is the initial
// management token.
func Consul(t testing.TB, opts ...Option) *Server {
	t.Helper()
	RequireBinaries(t, "consul "+ConsulVersion, ConsulBinary())
	o := applyOptions(opts)
	s := newServer(t, "consul")
	s.bin = ConsulBinary()
	setupTLS(t, s, o)
	if o.auth {
		s.Token = uuid()
	}
	cfgPath := filepath.Join(filepath.Dir(s.Dir), "consul.json")
	s.args = []string{"agent", "-config-file", cfgPath}
	s.ready = consulReady(s, o)
	s.launch(t, func() {
		ports := freePorts(t, 3)
		s.Endpoints = []string{Loopback(ports[0])}
		writeFile(t, cfgPath, consulConfig(s, o, ports))
	})
	return s
}

func consulConfig(s *Server, o options, ports []int) []byte {
	portCfg := map[string]int{
		"http": ports[0], "https": -1, "serf_lan": ports[1], "server": ports[2],
		"dns": -1, "serf_wan": -1, "grpc": -1,
	}
	cfg := map[string]any{
		"node_name":            consulNode,
		"datacenter":           "dc1",
		"server":               true,
		"bootstrap_expect":     1,
		"data_dir":             s.Dir,
		"bind_addr":            "127.0.0.1",
		"advertise_addr":       "127.0.0.1",
		"client_addr":          "127.0.0.1",
		"ports":                portCfg,
		"session_ttl_min":      "1s",
		"disable_update_check": true,
		"log_level":            "INFO",
		"ui_config":            map[string]any{"enabled": false},
		// Production's multiplier of 5 slows the single server's first election by seconds.
		"performance": map[string]any{"raft_multiplier": 1},
	}
	if o.tls {
		portCfg["http"], portCfg["https"] = -1, ports[0]
		cfg["tls"] = map[string]any{
			"defaults": map[string]any{
				"ca_file": s.CA.CertFile, "cert_file": s.serverCert.CertFile, "key_file": s.serverCert.KeyFile,
			},
			"https": map[string]any{"verify_incoming": true},
		}
	}
	if o.auth {
		cfg["acl"] = map[string]any{
			"enabled":        true,
			"default_policy": "deny",
			// The agent token lets the agent register itself in the catalog, which sessions need.
			"tokens": map[string]any{"initial_management": s.Token, "agent": s.Token},
		}
	}
	data, _ := json.MarshalIndent(cfg, "", "  ") // maps of plain values always marshal
	return data
}

// consulReady is ready once a leader is elected and the node is registered with a passing
// serfHealth check: sessions (and so locks) can be created only from then on.
func consulReady(s *Server, o options) func(context.Context) error {
	client := probeClient(s.TLS)
	return func(ctx context.Context) error {
		base := scheme(o.tls) + "://" + s.Endpoints[0]
		var header http.Header
		if s.Token != "" {
			header = http.Header{"X-Consul-Token": {s.Token}}
		}
		leader, err := httpCall(ctx, client, http.MethodGet, base+"/v1/status/leader", nil, header, http.StatusOK)
		if err != nil {
			return err
		}
		if bytes.Equal(bytes.TrimSpace(leader), []byte(`""`)) {
			return errors.New("no leader yet")
		}
		body, err := httpCall(ctx, client, http.MethodGet, base+"/v1/health/node/"+consulNode, nil, header, http.StatusOK)
		if err != nil {
			return err
		}
		var checks []struct{ CheckID, Status string }
		if err := json.Unmarshal(body, &checks); err != nil {
			return err
		}
		for _, c := range checks {
			if c.CheckID == "serfHealth" && c.Status == "passing" {
				return nil
			}
		}
		return errors.New("node not registered yet")
	}
}

// uuid returns a random UUID (version 4), the form Consul requires of ACL tokens.
func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, v := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[v>>4], hex[v&0x0f])
	}
	return string(out)
}
