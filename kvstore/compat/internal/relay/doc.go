// Package relay runs the goroutines of the libkv and valkeyrie adapters: the ones that forward a
// kvstore watch channel into a channel of the adapted library's type, and the ones that turn a
// libkv stop channel into a context. A Group owns them, so that closing an adapter ends and
// waits for every goroutine it started, whether or not its caller ever stops its watches.
package relay
