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
	KeyOfLeaf   = keyOfLeaf
	EncodeValue = encodeValue
	DecodeValue = decodeValue
)

// SetWatchPoll shortens the long polls of the watches that st starts from now on.
func SetWatchPoll(st kvstore.Store, d time.Duration) {
	st.(*Store).poll = d
}
