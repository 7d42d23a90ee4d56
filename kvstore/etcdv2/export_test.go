package etcdv2

import (
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
)

// Internals for the tests of package etcdv2_test.
var (
	NodePath    = nodePath
	LeafPath    = leafPath
	QueuePath   = queuePath
	KeyOfFile   = keyOfFile
	EncodeValue = encodeValue
	DecodeValue = decodeValue
)

// SetWatchPoll shortens the long polls of the watches that st starts from now on.
func SetWatchPoll(st kvstore.Store, d time.Duration) {
	st.(*Store).poll = d
}

// SetReshaped makes fn run in the calls of st on a plain key, between the request that finds
// the file and the one that acts on it. Set it before st is used concurrently.
func SetReshaped(st kvstore.Store, fn func()) {
	st.(*Store).reshaped = fn
}
