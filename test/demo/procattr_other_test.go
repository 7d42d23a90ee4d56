//go:build unix && !linux

package demo_test

import "testing"

// checkNothingLeft: without /proc there is no cheap way to list the processes that name a
// folder; the Linux run of this test checks it.
func checkNothingLeft(t *testing.T, _ string) {
	t.Helper()
	t.Log("not checking for processes left running: only on Linux")
}
