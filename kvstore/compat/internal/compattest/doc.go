// Package compattest lists the backends the adapters' tests run libkv's and valkeyrie's suites
// on: the five kvstore backends, each against its real server started by kvtest/testserver, and
// memstore. Both adapter packages' tests use it, so that they cover the same backends alike.
package compattest
