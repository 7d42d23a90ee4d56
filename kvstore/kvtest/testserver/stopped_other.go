//go:build unix && !linux

package testserver

// stopped cannot see a process's threads without /proc, so Pause returns as soon as SIGSTOP is
// sent.
func stopped(int) (bool, error) { return true, nil }
