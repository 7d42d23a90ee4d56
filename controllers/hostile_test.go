package controllers

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/onsi/gomega"
	bolt "go.etcd.io/bbolt"
	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kvmirror/kvmirror/api/v1alpha1"
)

// TestHostile writes keys and values meant to break the mirror: keys that cannot be ConfigMap
// keys, that collide, that kvstore itself rejects (written raw, around the library), binary,
// empty and huge values, and more than a ConfigMap can hold. The ConfigMap must only ever hold
// valid data, every left-out key must be reported, and an oversized prefix must leave the
// ConfigMap as it was.
func TestHostile(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			h := startSuite(t)
			fx := b.start(t)
			testHostile(t, h, fx)
		})
	}
}

func testHostile(t *testing.T, h *harness, fx *fixture) {
	s, p := fx.store, randomPrefix()
	bigSize := min(fx.maxValue, 900<<10)
	big := strings.Repeat("v", bigSize)
	longKey := strings.Repeat("k", 300)
	binValue := string([]byte{0xff, 0x00, 0xfe, 0x80})
	for key, value := range map[string]string{
		"ok": "plain", "empty": "", "nul": "a\x00b", "bin": binValue, "big": big,
		"a/b": "1", "a.b": "2", // collide on "a.b"
		"größe": "x", longKey: "x", "..dots": "x", "with space": "x",
	} {
		put(t, s, p+"/"+key, value)
	}
	skipped := map[string]v1alpha1.SkipReason{
		"a/b": v1alpha1.SkipCollision, "a.b": v1alpha1.SkipCollision,
		"größe": v1alpha1.SkipInvalidConfigMapKey, longKey: v1alpha1.SkipInvalidConfigMapKey,
		"..dots": v1alpha1.SkipInvalidConfigMapKey, "with space": v1alpha1.SkipInvalidConfigMapKey,
	}
	for key, reason := range writeRaw(t, fx, p) {
		skipped[key] = reason
	}

	sp := spec(fx, p)
	sp.ResyncPeriod = &metav1.Duration{Duration: 10 * time.Second} // raw writes raise no watch event on every backend
	h.createMirror(t, "hostile", sp)
	wantData := map[string]string{"ok": "plain", "empty": "", "nul": "a\x00b", "big": big}
	gm := g(t)
	var cm *corev1.ConfigMap
	gm.Eventually(func(gm gomega.Gomega) {
		var err error
		cm, err = h.getConfigMap(t.Context(), "hostile")
		gm.Expect(err).NotTo(gomega.HaveOccurred())
		gm.Expect(orEmpty(cm.Data)).To(gomega.Equal(wantData))
		gm.Expect(cm.BinaryData).To(gomega.Equal(map[string][]byte{"bin": []byte(binValue)}))
	}).Should(gomega.Succeed())

	m := h.eventuallyReady(t, "hostile", metav1.ConditionFalse, v1alpha1.ReasonInvalidKeys)
	gm.Expect(m.Status.KeyCount).To(gomega.BeEquivalentTo(5))
	gm.Expect(m.Status.SkippedKeyCount).To(gomega.BeEquivalentTo(len(skipped)))
	got := map[string]v1alpha1.SkipReason{}
	for _, k := range m.Status.SkippedKeys {
		got[k.Key] = k.Reason
		gm.Expect(k.Message).NotTo(gomega.BeEmpty())
	}
	want := map[string]v1alpha1.SkipReason{}
	for k, r := range skipped {
		want[displayKey(k)] = r
	}
	gm.Expect(got).To(gomega.Equal(want))
	ev := h.eventuallyEvent(t, "hostile", v1alpha1.ReasonInvalidKeys)
	gm.Expect(ev.Type).To(gomega.Equal(corev1.EventTypeWarning))

	// Over 1 MiB in total: the ConfigMap keeps its last data, untouched.
	rv := cm.ResourceVersion
	var extra []string
	for total := 2 * bigSize; total <= MaxConfigMapBytes; total += bigSize {
		extra = append(extra, p+"/more"+string(rune('a'+len(extra))))
	}
	extra = append(extra, p+"/more-last")
	for _, k := range extra {
		put(t, s, k, big)
	}
	m = h.eventuallyReady(t, "hostile", metav1.ConditionFalse, v1alpha1.ReasonTooLarge)
	gm.Expect(m.Status.KeyCount).To(gomega.BeEquivalentTo(5), "the status describes the ConfigMap, which did not change")
	gm.Consistently(func() string {
		cm, err := h.getConfigMap(t.Context(), "hostile")
		if err != nil {
			return err.Error()
		}
		return cm.ResourceVersion
	}, 2*time.Second).Should(gomega.Equal(rv))
	h.eventuallyEvent(t, "hostile", v1alpha1.ReasonTooLarge)

	for _, k := range extra {
		del(t, s, k)
	}
	h.eventuallyReady(t, "hostile", metav1.ConditionFalse, v1alpha1.ReasonInvalidKeys)
	deleteTree(t, s, p)
	h.eventuallyData(t, "hostile", nil)
	m = h.eventuallyReady(t, "hostile", metav1.ConditionTrue, v1alpha1.ReasonSynced)
	gm.Expect(m.Status.SkippedKeys).To(gomega.BeEmpty())
	gm.Expect(m.Status.SkippedKeyCount).To(gomega.BeZero())
}

// writeRaw stores, around kvstore, keys that kvstore refuses to write (control bytes, ".."
// segments) or that only differ by a trailing slash, where the backend allows it, and returns
// them (relative to the prefix) with the reason the mirror must give for leaving them out.
func writeRaw(t *testing.T, fx *fixture, prefix string) map[string]v1alpha1.SkipReason {
	t.Helper()
	switch fx.spec.Type {
	case v1alpha1.BackendBoltDB:
		db, err := bolt.Open(fx.path, 0o600, &bolt.Options{Timeout: 30 * time.Second})
		if err != nil {
			t.Fatalf("open bolt file: %v", err)
		}
		defer func() { _ = db.Close() }()
		err = db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte(fx.bucket))
			for i, key := range []string{"ctl\x01key", "x", "x/", "up/../x"} {
				if err := b.Put([]byte(prefix+"/"+key), boltRecord(uint64(1_000_000+i), "raw")); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("raw bolt write: %v", err)
		}
		// "x" and "x/" are one key once canonical, so both are left out as a collision.
		return map[string]v1alpha1.SkipReason{
			"ctl\x01key": v1alpha1.SkipInvalidKey, "up/../x": v1alpha1.SkipInvalidKey,
			"x": v1alpha1.SkipCollision, "x/": v1alpha1.SkipCollision,
		}
	case v1alpha1.BackendEtcd:
		cli, err := clientv3.New(clientv3.Config{Endpoints: fx.spec.Endpoints, DialTimeout: 10 * time.Second})
		if err != nil {
			t.Fatalf("etcd client: %v", err)
		}
		defer func() { _ = cli.Close() }()
		// The etcd backend stores "a/b" at "/a/b" and hides non-canonical keys ("/p/x/"), so
		// only the control byte and the ".." segment reach the mirror.
		for _, key := range []string{"ctl\x01key", "up/../x", "x/"} {
			if _, err := cli.Put(t.Context(), "/"+prefix+"/"+key, "raw"); err != nil {
				t.Fatalf("raw etcd put: %v", err)
			}
		}
		return map[string]v1alpha1.SkipReason{"ctl\x01key": v1alpha1.SkipInvalidKey, "up/../x": v1alpha1.SkipInvalidKey}
	}
	return nil
}

// boltRecord encodes a value as the boltdb backend stores it (see its encoding.go): format 1,
// the index, no expiry, the value.
func boltRecord(index uint64, value string) []byte {
	b := make([]byte, 17+len(value))
	b[0] = 1
	binary.BigEndian.PutUint64(b[1:], index)
	copy(b[17:], value)
	return b
}
