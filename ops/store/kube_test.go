package store_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/kube"
	"github.com/nycmeshnet/cutoverbot/ops/kube/kubefake"
	"github.com/nycmeshnet/cutoverbot/ops/store"
)

func openKube(t *testing.T, c kubernetes.Interface, ns string) *store.Kube {
	t.Helper()
	s, err := store.OpenKube(context.Background(), c, ns)
	require.NoError(t, err)
	return s
}

func TestKubeContract(t *testing.T) {
	eachStoreBackend(t, func(t *testing.T, c kubernetes.Interface, ns string) {
		testContract(t, openKube(t, c, ns), func() store.Backend { return openKube(t, c, ns) })
	})
}

// Two replicas racing to start a run: exactly one takes the lock.
func TestKubeCreateIsExclusiveAcrossReplicas(t *testing.T) {
	eachStoreBackend(t, kubeCreateIsExclusiveAcrossReplicas)
}

func kubeCreateIsExclusiveAcrossReplicas(t *testing.T, c kubernetes.Interface, ns string) {
	a, b := openKube(t, c, ns), openKube(t, c, ns)
	t0 := time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, s := range []*store.Kube{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Create(context.Background(), newRun("r"+string(rune('a'+i)), "U0"+string(rune('A'+i)), t0), nil)
		}()
	}
	wg.Wait()
	var busy *engine.BusyError
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else {
			require.ErrorAs(t, err, &busy)
		}
	}
	assert.Equal(t, 1, ok, "one create wins: %v", errs)
}

// A replica that read an old version (it lost the lease and writes late) is refused,
// whichever store object it reads through.
func TestKubeStaleWriterIsRefused(t *testing.T) { eachStoreBackend(t, kubeStaleWriterIsRefused) }

func kubeStaleWriterIsRefused(t *testing.T, c kubernetes.Interface, ns string) {
	leader, late := openKube(t, c, ns), openKube(t, c, ns)
	t0 := time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)
	r := newRun("r1", "U01ALICE", t0)
	require.NoError(t, leader.Create(context.Background(), r, nil))
	old, err := late.Active(context.Background())
	require.NoError(t, err)

	r.Version = 2
	require.NoError(t, leader.Save(context.Background(), r, []engine.AuditEntry{{Event: "decision.approve", RunID: "r1"}}))
	old.Version = 2
	assert.ErrorIs(t, late.Save(context.Background(), old, []engine.AuditEntry{{Event: "decision.reject", RunID: "r1"}}), engine.ErrStaleWrite)

	audit, err := leader.Audit(context.Background(), "r1")
	require.NoError(t, err)
	require.Len(t, audit, 1)
	assert.Equal(t, "decision.approve", audit[0].Event, "the refused write left no audit entry")
}

// An ended run left in the active object (the bot died between archiving it and
// releasing the lock) is settled by the next reader: nothing lost, lock free.
func TestKubeSettlesAnEndedRunLeftHoldingTheLock(t *testing.T) {
	eachStoreBackend(t, kubeSettlesAnEndedRunLeftHoldingTheLock)
}

func kubeSettlesAnEndedRunLeftHoldingTheLock(t *testing.T, c kubernetes.Interface, ns string) {
	s := openKube(t, c, ns)
	t0 := time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)
	r := newRun("r1", "U01ALICE", t0)
	require.NoError(t, s.Create(context.Background(), r, []engine.AuditEntry{{Event: "run.started", RunID: "r1"}}))

	r.Version, r.State = 2, engine.Completed
	require.NoError(t, s.WriteActiveOnly(r, []engine.AuditEntry{{Event: "run.started", RunID: "r1"}, {Event: "run.completed", RunID: "r1"}}))
	_, err := c.CoreV1().ConfigMaps(ns).Get(context.Background(), "cutoverbot-run-r1", metav1.GetOptions{})
	require.Error(t, err, "not archived yet")

	other := openKube(t, c, ns)
	require.NoError(t, other.Create(context.Background(), newRun("r2", "U02BOB", t0.Add(time.Hour)), nil), "creating settles the ended run and takes the lock")
	back, err := other.Get(context.Background(), "r1")
	require.NoError(t, err)
	assert.Equal(t, engine.Completed, back.State)
	audit, err := other.Audit(context.Background(), "r1")
	require.NoError(t, err)
	assert.Len(t, audit, 2, "the audit moved with the run")
	require.NoError(t, c.CoreV1().ConfigMaps(ns).Delete(context.Background(), "cutoverbot-active", metav1.DeleteOptions{}))

	// And through Active: the same leftover is settled and reported as no active run.
	require.NoError(t, s.Create(context.Background(), newRun("r3", "U02BOB", t0.Add(2*time.Hour)), nil))
	r3, err := s.Active(context.Background())
	require.NoError(t, err)
	r3.Version, r3.State = 2, engine.Aborted
	require.NoError(t, s.WriteActiveOnly(r3, nil))
	a, err := s.Active(context.Background())
	require.NoError(t, err)
	assert.Nil(t, a)
	back, err = s.Get(context.Background(), "r3")
	require.NoError(t, err)
	assert.Equal(t, engine.Aborted, back.State)
	require.NoError(t, s.Create(context.Background(), newRun("r4", "U02BOB", t0.Add(3*time.Hour)), nil), "the lock is free")
}

// Large step outputs (a long diff) fit because the payload is compressed; one that
// cannot fit is refused with a clear error and the stored run is unchanged.
func TestKubeLargeRunsFitOrAreRefusedClearly(t *testing.T) {
	eachStoreBackend(t, kubeLargeRunsFitOrAreRefusedClearly)
}

func kubeLargeRunsFitOrAreRefusedClearly(t *testing.T, c kubernetes.Interface, ns string) {
	s := openKube(t, c, ns)
	r := newRun("r1", "U01ALICE", time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC))
	require.NoError(t, s.Create(context.Background(), r, nil))

	r.Version = 2
	r.Steps[0].Output.Details = strings.Repeat("- node 1234 lat 40.7 lon -73.9 status Active\n", 60000) // 2.7 MB, compressible
	require.NoError(t, s.Save(context.Background(), r, nil))
	got, err := s.Get(context.Background(), "r1")
	require.NoError(t, err)
	assert.Equal(t, r.Steps[0].Output.Details, got.Steps[0].Output.Details)

	noise := make([]byte, 1<<20)
	_, _ = rand.Read(noise)
	r.Version = 3
	r.Steps[0].Output.Details = hex.EncodeToString(noise)
	err = s.Save(context.Background(), r, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "over the")
	got, err = s.Get(context.Background(), "r1")
	require.NoError(t, err)
	assert.Equal(t, int64(2), got.Version, "nothing changed")
}

// The end of a run lands in the active object but its move to the archive fails (the
// archive cannot be created): Save reports success, since the run's own write landed,
// later writes are not refused as stale, and the next read finishes the move.
func TestKubeSaveSucceedsOnceTheRunsOwnWriteLanded(t *testing.T) {
	srv, path := kubefake.StartForTest(t, kubefake.Options{}, "home")
	cl, err := kube.Connect(kube.Options{Name: "home", Kubeconfig: path, Context: "home", Namespace: "cutoverbot"})
	require.NoError(t, err)
	s := openKube(t, cl.Clientset(), "cutoverbot")
	t0 := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	r := newRun("r1", "U01ALICE", t0)
	require.NoError(t, s.Create(context.Background(), r, nil))

	srv.Deny(kubefake.Permission{Verb: "create", Resource: "configmaps"})
	r.Version, r.State = 2, engine.Completed
	require.NoError(t, s.Save(context.Background(), r, []engine.AuditEntry{{Event: "run.completed", RunID: "r1"}}), "the run's own write landed")
	require.NoError(t, s.Save(context.Background(), r, []engine.AuditEntry{{Event: "run.completed", RunID: "r1"}}), "and a retry of it is the same write")
	r.Version, r.Notes = 3, map[string]string{"end": "posted"}
	require.NoError(t, s.Save(context.Background(), r, nil), "a later write is not refused as stale")

	srv.Allow(kubefake.Permission{Verb: "create", Resource: "configmaps"})
	a, err := s.Active(context.Background())
	require.NoError(t, err)
	assert.Nil(t, a, "the next read finishes the move")
	back, err := s.Get(context.Background(), "r1")
	require.NoError(t, err)
	assert.Equal(t, int64(3), back.Version)
	audit, err := s.Audit(context.Background(), "r1")
	require.NoError(t, err)
	assert.Len(t, audit, 1)
}

// A run whose payload is just under the store's own limit is accepted by the API server
// (whose limit for a ConfigMap is 1 MiB of data, metadata apart); a ConfigMap over 1 MiB is
// refused by the server itself.
func TestKubeObjectSizeLimit(t *testing.T) { eachStoreBackend(t, kubeObjectSizeLimit) }

func kubeObjectSizeLimit(t *testing.T, c kubernetes.Interface, ns string) {
	s := openKube(t, c, ns)
	r := newRun("r1", "U01ALICE", time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC))
	require.NoError(t, s.Create(context.Background(), r, nil))

	// Random hex compresses to about half: grow it until the payload is within 8 KiB of the limit.
	noise := make([]byte, store.MaxObject)
	_, _ = rand.Read(noise)
	text := hex.EncodeToString(noise)
	n := len(text) / 2
	var size int
	for range 20 {
		r.Steps[0].Output.Details = text[:n]
		var err error
		size, err = store.PayloadSize(r, nil)
		require.NoError(t, err)
		if size > store.MaxObject-8<<10 && size <= store.MaxObject {
			break
		}
		n = int(float64(n) * float64(store.MaxObject-4<<10) / float64(size))
	}
	require.Greater(t, size, store.MaxObject-8<<10, "a payload near the limit")
	r.Version = 2
	require.NoError(t, s.Save(context.Background(), r, nil), "a %d-byte payload fits", size)
	got, err := s.Get(context.Background(), "r1")
	require.NoError(t, err)
	assert.Equal(t, r.Steps[0].Output.Details, got.Steps[0].Output.Details)

	over := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "too-big"}, BinaryData: map[string][]byte{"blob": make([]byte, 1<<20+1)}}
	_, err = c.CoreV1().ConfigMaps(ns).Create(context.Background(), over, metav1.CreateOptions{})
	require.Error(t, err, "the API server refuses a ConfigMap over 1 MiB")
	assert.True(t, apierrors.IsInvalid(err), "%v", err)
	assert.Contains(t, err.Error(), "1048576 bytes") // the wording changed between 1.30 and 1.37
}
