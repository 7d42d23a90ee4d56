// Package testserver starts the real key/value servers the kvstore backends' tests run against:
// etcd (v3 and v2 APIs), Consul and ZooKeeper, plus a TCP proxy that stalls or cuts connections
// for fault tests. It is public so that a program using kvstore can test against the same
// servers. It imports nothing of Kubernetes.
//
// Each starter runs the server as a child process on free loopback ports with a temporary data
// folder, returns once the server serves clients, and stops it when the test ends. When the test
// fails, the end of the server's log is printed. Tests may run in parallel: every server is
// private to the test that started it.
//
//	func TestPutGet(t *testing.T) {
//		t.Parallel()
//		srv := testserver.Etcd(t, testserver.WithTLS(), testserver.WithAuth())
//		cli, err := clientv3.New(clientv3.Config{
//			Endpoints: srv.Endpoints, TLS: srv.TLS, Username: srv.Username, Password: srv.Password,
//		})
//		...
//		srv.Kill(t)  // crash it,
//		srv.Start(t) // and bring it back on the same ports with the same data.
//	}
//
// The binaries are installed by `make test-deps` (hack/test-deps.sh): Debian's ZooKeeper and
// etcd 3.4, and etcd and Consul built into the cache folder BinDir. When one is
// missing, the test fails if CI=true or KVMIRROR_REQUIRE_SERVERS=1 (as under `make test`), and is
// otherwise skipped with a loud message, so that someone running one package by hand learns what
// did not run.
//
// A package whose Example functions need a server, which they cannot start without a *testing.T,
// starts one in TestMain with Shared; it stops after the last test, before goleak looks for
// leaked goroutines.
//
// Each server is killed by the kernel if the test process dies without cleaning up (Linux), so a
// panic or a -timeout leaves no server behind. StartProcess starts any other program the same
// way, its output in a log file: the operator's tests and demo run their manager replicas with it.
//
// Tests of data that other programs wrote use the stores' own tools through Etcdctl, ConsulKV
// (the consul kv command), ZkCli (ZooKeeper's zkCli.sh, several commands in one session) and
// EtcdV2Keys (the v2 keys API requests curl sends).
package testserver
