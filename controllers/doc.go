// Package controllers is the KVMirror controller: it keeps each KVMirror's ConfigMap equal to the
// keys below a prefix of a key/value store.
//
// The reconciler is level-based. Each reconcile reads the mirror and its Secrets, lists the
// prefix through a Store shared with the other mirrors of the same backend configuration, maps
// the keys to ConfigMap keys (see mapKey for the rule), writes the ConfigMap if it differs, and
// records the outcome on the status, in events and in metrics. On etcd a mirror reads the prefix
// in both key layouts, through a Store each, and maps the merged listing, so keys written with
// and without a leading slash are mirrored alike and a key written both ways is a collision (see
// backendConfig.layouts). A WatchTree per mirror and Store only triggers reconciles, through a
// source.Channel, so bursts of changes coalesce in the workqueue; a periodic resync is the
// safety net for a lost watch.
//
// Use SetupWithManager for the usual managed controller, or New and Controller.Start to start it
// later, for example only while this replica holds a leadership lock.
package controllers
