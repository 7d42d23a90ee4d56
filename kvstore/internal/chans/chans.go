// Package chans holds the channel idioms every backend's watches and locks share, so that each
// reads the same way: a send that gives up when its context ends, and a check for a closed
// signal channel.
package chans

import "context"

// Send delivers v on ch unless ctx ends first; it reports whether v was delivered. A watch
// goroutine uses it for every send, so that it never blocks on a receiver that went away.
func Send[T any](ctx context.Context, ch chan<- T, v T) bool {
	select {
	case ch <- v:
		return true
	case <-ctx.Done():
		return false
	}
}

// Closed reports whether ch, a channel that only ever closes (a lock's lost channel), is
// closed, without blocking.
func Closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
