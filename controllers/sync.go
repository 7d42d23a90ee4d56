package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kvmirror/kvmirror/api/v1alpha1"
	"github.com/kvmirror/kvmirror/kvstore"
)

// lister is what a reconcile reads of a Store.
type lister interface {
	List(ctx context.Context, directory string, opts *kvstore.ReadOptions) ([]*kvstore.KVPair, error)
}

// sync lists the prefix and brings the ConfigMap up to date: spec, then Secrets, then the store,
// then the ConfigMap. The first step that fails decides the outcome.
func (r *Reconciler) sync(ctx context.Context, m *v1alpha1.KVMirror) outcome {
	key := client.ObjectKeyFromObject(m)
	prefix, err := mirrorPrefix(m)
	if err != nil {
		r.watches.stop(key)
		return outcome{reason: v1alpha1.ReasonInvalidSpec, message: err.Error()}
	}
	cfg, err := resolveBackend(ctx, r.client, m)
	if err != nil {
		// Without its Secrets the mirror cannot say which connection it should use; holding on
		// to the previous one would keep reading with credentials that were withdrawn.
		r.watches.stop(key)
		return failed(err)
	}
	// Taken before listing: a snapshot that arrives while we list starts a new interval and
	// triggers another reconcile.
	eventTime, hadEvent := r.watches.takeEventTime(key)
	pairs, err := r.read(ctx, key, cfg, prefix)
	if err != nil {
		return failed(err)
	}
	mapped := mapPairs(prefix, pairs, separator(m))
	if mapped.Bytes > MaxConfigMapBytes {
		return tooLarge(prefix, mapped)
	}
	wrote, err := r.applyConfigMap(ctx, m, mapped)
	if err != nil {
		return failed(err)
	}
	if wrote && hadEvent {
		eventToWrite.Observe(time.Since(eventTime).Seconds())
	}
	res := synced(m, prefix, mapped, wrote)
	res.message += layoutsNote(cfg, prefix)
	return res
}

// mirrorPrefix returns the mirror's prefix in canonical form; the root is refused.
func mirrorPrefix(m *v1alpha1.KVMirror) (string, error) {
	prefix, err := kvstore.NormalizeDir(m.Spec.Prefix)
	if err == nil && prefix == "" {
		err = errors.New("the root cannot be mirrored")
	}
	if err != nil {
		return "", fmt.Errorf("prefix %q: %w", m.Spec.Prefix, err)
	}
	return prefix, nil
}

// read connects to the mirror's backend through the pool, one Store per key layout (see
// layouts), makes sure the mirror's watch runs on them, and lists prefix in each. A failure of
// any one fails the read: a listing without the keys of one layout would look like their
// deletion. kvmirror_backend_up records whether the backend answered every read.
func (r *Reconciler) read(ctx context.Context, mirror types.NamespacedName, cfg *backendConfig, prefix string) ([]listed, error) {
	configs := cfg.layouts()
	leases, err := r.acquire(ctx, configs)
	if err != nil {
		r.backends.set(mirror, cfg.label, false)
		return nil, err
	}
	defer releaseAll(leases)
	r.watches.ensure(ctx, mirror, leases, prefix)

	listings := make([][]listed, 0, len(configs))
	for i, c := range configs {
		pairs, err := listPrefix(ctx, leases[i].Store(), prefix, storeTimeout(c))
		if err != nil {
			r.backends.set(mirror, cfg.label, false)
			return nil, fmt.Errorf("list %q on %s: %w", prefix, c.label, err)
		}
		listings = append(listings, inLayout(c.store.KeyLayout, pairs))
	}
	r.backends.set(mirror, cfg.label, true)
	return mergeListings(listings), nil
}

// acquire returns a lease on the Store of each configuration, in order, or none at all.
func (r *Reconciler) acquire(ctx context.Context, configs []*backendConfig) ([]*lease, error) {
	leases := make([]*lease, 0, len(configs))
	for _, c := range configs {
		l, err := r.pool.acquire(ctx, c)
		if err != nil {
			releaseAll(leases)
			return nil, fmt.Errorf("connect to %s: %w", c.label, err)
		}
		leases = append(leases, l)
	}
	return leases, nil
}

func releaseAll(leases []*lease) {
	for _, l := range leases {
		l.Release()
	}
}

// listPrefix lists prefix within timeout. Nothing below prefix is an empty listing: the mirror
// then empties its ConfigMap rather than failing.
func listPrefix(ctx context.Context, s lister, prefix string, timeout time.Duration) ([]*kvstore.KVPair, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pairs, err := s.List(ctx, prefix, nil)
	if errors.Is(err, kvstore.ErrKeyNotFound) {
		return nil, nil
	}
	return pairs, err
}

// tooLarge is the outcome of a listing that does not fit a ConfigMap; the ConfigMap is left as
// it was.
func tooLarge(prefix string, mapped *mirrored) outcome {
	return outcome{reason: v1alpha1.ReasonTooLarge, message: fmt.Sprintf(
		"the %d keys below %q add up to %d bytes, over the ConfigMap limit of %d; the ConfigMap keeps its last data",
		mapped.Keys, prefix, mapped.Bytes, MaxConfigMapBytes)}
}

// synced is the outcome of a ConfigMap brought up to date; keys that could not be mapped make
// it InvalidKeys rather than Synced.
func synced(m *v1alpha1.KVMirror, prefix string, mapped *mirrored, wrote bool) outcome {
	res := outcome{reason: v1alpha1.ReasonSynced, mapped: mapped, wrote: wrote,
		message: fmt.Sprintf("ConfigMap %q holds the %d keys below %q", m.ConfigMapName(), mapped.Keys, prefix)}
	if n := len(mapped.Skipped); n > 0 {
		res.reason = v1alpha1.ReasonInvalidKeys
		res.message = fmt.Sprintf("%d keys below %q could not be mirrored (see status.skippedKeys); ConfigMap %q holds the other %d",
			n, prefix, m.ConfigMapName(), mapped.Keys)
	}
	return res
}
