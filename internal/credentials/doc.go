// Package credentials turns PEM material and secret files into what a kvstore.Config takes: a
// client *tls.Config, passwords and tokens. The controllers feed it the contents of a mirror's
// Secrets; the manager feeds it the files named by its --leader-elect-* flags. Both get the same
// TLS settings (TLS 1.2 at least, roots only from the given CA bundle) from one place.
package credentials
