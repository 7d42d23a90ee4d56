package consul

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hashicorp/consul/api"
)

// txnError is a transaction Consul rolled back because one of its operations failed (HTTP 409).
type txnError struct {
	op   int    // index of the failed operation
	what string // Consul's reason
}

func (e *txnError) Error() string {
	return fmt.Sprintf("consul: transaction operation %d failed: %s", e.op, e.what)
}

// txn runs KV operations as one Consul transaction (all or nothing, one index). It returns the
// entry each operation reports (without values for writes), or a *txnError.
//
// Values travel base64-encoded in the transaction's JSON body, which Consul limits to 512 KiB
// (txn_max_req_len), so a value is limited to about 380 KiB through kvmirror.
func (s *Store) txn(ctx context.Context, ops api.KVTxnOps) ([]*api.KVPair, error) {
	body := make(api.TxnOps, len(ops))
	for i, op := range ops {
		body[i] = &api.TxnOp{KV: op}
	}
	actx, cancel := s.attempt(ctx)
	defer cancel()
	var resp api.TxnResponse
	_, err := s.client.Raw().Write("/v1/txn", body, &resp, writeOptions(actx))
	if err != nil {
		if failed := decodeTxnFailure(err); failed != nil {
			return nil, failed
		}
		return nil, mapError(actx, err)
	}
	entries := make([]*api.KVPair, 0, len(resp.Results))
	for _, r := range resp.Results {
		entries = append(entries, r.KV)
	}
	return entries, nil
}

// decodeTxnFailure returns the first failed operation of a rolled-back transaction, or nil when
// err is anything else.
func decodeTxnFailure(err error) *txnError {
	var se api.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusConflict {
		return nil
	}
	var resp api.TxnResponse
	if json.Unmarshal([]byte(se.Body), &resp) != nil || len(resp.Errors) == 0 {
		return &txnError{op: -1, what: se.Body}
	}
	return &txnError{op: resp.Errors[0].OpIndex, what: resp.Errors[0].What}
}

// failedOp returns the index of the operation that made a transaction fail, or -1 when err is not
// a rolled-back transaction.
func failedOp(err error) int {
	var te *txnError
	if errors.As(err, &te) {
		return te.op
	}
	return -1
}

// failedForSession reports whether a transaction failed because a session it named is gone.
func failedForSession(err error) bool {
	var te *txnError
	return errors.As(err, &te) && strings.Contains(strings.ToLower(te.what), "invalid session")
}

// lastEntry is the entry the last operation that reported one returned: after a write, the key
// with its new ModifyIndex.
func lastEntry(entries []*api.KVPair) *api.KVPair {
	for i := len(entries) - 1; i >= 0; i-- {
		if entries[i] != nil {
			return entries[i]
		}
	}
	return nil
}
