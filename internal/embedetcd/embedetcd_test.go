package embedetcd_test

import (
	"fmt"
	"net"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kvmirror/kvmirror/internal/embedetcd"
)

func freeURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprintf("http://%s", l.Addr())
}

// TestStartServesClients proves the embedded server answers a real client and keeps its data
// across a restart on the same directory.
func TestStartServesClients(t *testing.T) {
	dir := t.TempDir()
	opts := embedetcd.Options{Dir: dir, ClientURL: freeURL(t), PeerURL: freeURL(t)}
	put := func(value string) string {
		srv, err := embedetcd.Start(t.Context(), opts)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{srv.Endpoint()}, DialTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		resp, err := cli.Get(t.Context(), "greeting")
		if err != nil {
			t.Fatal(err)
		}
		previous := ""
		if len(resp.Kvs) == 1 {
			previous = string(resp.Kvs[0].Value)
		}
		if _, err := cli.Put(t.Context(), "greeting", value); err != nil {
			t.Fatal(err)
		}
		return previous
	}
	if got := put("hello"); got != "" {
		t.Fatalf("fresh server holds %q", got)
	}
	if got := put("again"); got != "hello" {
		t.Fatalf("after restart the server holds %q, want hello", got)
	}
}

func TestStartRejectsMissingOptions(t *testing.T) {
	if _, err := embedetcd.Start(t.Context(), embedetcd.Options{}); err == nil {
		t.Fatal("Start without Dir and ClientURL succeeded")
	}
}
