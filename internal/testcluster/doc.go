// Package testcluster starts a Kubernetes control plane for kvmirror's operator tests: envtest's
// kube-apiserver and etcd, from the cache that `make test-deps` fills, with the kvmirror CRDs
// installed.
//
//	func TestMirror(t *testing.T) {
//		cfg := testcluster.Start(t) // stopped when the test ends
//		...
//	}
//
// It builds on kvstore/kvtest/testserver, which starts the key/value servers and decides what a
// missing binary means (a failure under CI=true or KVMIRROR_REQUIRE_SERVERS=1, a loud skip by
// hand); this package holds only what needs Kubernetes, so that the backends' tests link none of
// it.
package testcluster
