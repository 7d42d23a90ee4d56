package testserver

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// V2Node is a node of an etcd v2 keys API answer: a file (Value) or a directory (Dir, with
// Nodes when it was read recursively or is being listed).
type V2Node struct {
	Key           string    `json:"key"`
	Value         string    `json:"value"`
	Dir           bool      `json:"dir"`
	Nodes         []*V2Node `json:"nodes"`
	ModifiedIndex uint64    `json:"modifiedIndex"`
}

// EtcdV2Keys sends one request to the etcd v2 keys API of endpoints[0] exactly as curl does it
// for etcd's documented examples, and returns the node of the answer:
//
//	curl -X PUT http://host/v2/keys/app/db/host -d value=x    EtcdV2Keys(t, eps, "PUT", "/app/db/host", url.Values{"value": {"x"}})
//	curl -X PUT http://host/v2/keys/app/empty -d dir=true     EtcdV2Keys(t, eps, "PUT", "/app/empty", url.Values{"dir": {"true"}})
//	curl http://host/v2/keys/app?recursive=true               EtcdV2Keys(t, eps, "GET", "/app", url.Values{"recursive": {"true"}})
//
// form is the request's form body, or its query for GET and DELETE. An error answer fails the
// test with etcd's message. Debian's etcd 3.4 server ships no etcdctl, and etcd 3.5's etcdctl no
// longer speaks v2, so this stands for the v2 tools. The server must serve plain HTTP without
// authentication (no WithTLS nor WithAuth).
func EtcdV2Keys(t testing.TB, endpoints []string, method, path string, form url.Values) *V2Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	u := url.URL{Scheme: "http", Host: endpoints[0], Path: "/v2/keys" + path}
	var body io.Reader
	if method == http.MethodGet || method == http.MethodDelete {
		u.RawQuery = form.Encode()
	} else {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := probeClient(nil).Do(req)
	if err != nil {
		t.Fatalf("etcd v2 %s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		t.Fatalf("etcd v2 %s %s: %s, %v: %s", method, path, resp.Status, err, strings.TrimSpace(string(data)))
	}
	var answer struct{ Node *V2Node }
	if err := json.Unmarshal(data, &answer); err != nil || answer.Node == nil {
		t.Fatalf("etcd v2 %s %s: answer %q: %v", method, path, strings.TrimSpace(string(data)), err)
	}
	return answer.Node
}
