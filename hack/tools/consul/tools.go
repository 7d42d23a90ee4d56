//go:build tools

// Package tools pins the Consul server that kvmirror's tests run against.
package tools

import _ "github.com/hashicorp/consul"
