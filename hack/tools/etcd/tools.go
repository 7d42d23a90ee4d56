//go:build tools

// Package main's tools file pins etcdctl beside the etcd server, for the tests that read the
// leadership lock the way the README tells users to.
package main

import _ "go.etcd.io/etcd/etcdctl/v3"
