package main

// Every backend registers itself with kvstore.Open when imported; a KVMirror can name any of them.
import (
	_ "github.com/kvmirror/kvmirror/kvstore/boltdb"
	_ "github.com/kvmirror/kvmirror/kvstore/consul"
	_ "github.com/kvmirror/kvmirror/kvstore/etcd"
	_ "github.com/kvmirror/kvmirror/kvstore/etcdv2"
	_ "github.com/kvmirror/kvmirror/kvstore/zookeeper"
)
