package testserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// probeClient returns an HTTP client for the readiness checks and set-up calls. Keep-alives are
// off so that no connection goroutine outlives a call: packages check for leaked goroutines.
func probeClient(cfg *tls.Config) *http.Client {
	tr := &http.Transport{DisableKeepAlives: true, Proxy: nil}
	if cfg != nil {
		tr.TLSClientConfig = cfg.Clone()
	}
	return &http.Client{Transport: tr}
}

// httpCall sends a request with an optional JSON body and returns the response body; a status
// other than the wanted ones is an error.
func httpCall(ctx context.Context, c *http.Client, method, url string, body any, header http.Header, want ...int) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	for _, code := range want {
		if resp.StatusCode == code {
			return data, nil
		}
	}
	return data, fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, strings.TrimSpace(string(data)))
}

func scheme(tlsOn bool) string {
	if tlsOn {
		return "https"
	}
	return "http"
}
