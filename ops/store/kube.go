package store

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/util/retry"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
)

// The Kubernetes backend (state.backend: kubernetes) keeps everything in ConfigMaps of
// the bot's own namespace, so that any replica can take over a run:
//
//	cutoverbot-active        the active run and its audit entries; its existence is the lock
//	cutoverbot-run-<id>      a run that has ended, with its audit entries
//	cutoverbot-kv-<hash>     one small record (a schedule)
//
// Each write of a run and its audit entries is one object write, so the two never
// disagree. Every update names the resourceVersion it read (optimistic concurrency): a
// replica that lost the lease and writes late gets a conflict instead of overwriting.
// Payloads are gzipped JSON in binaryData: a run with large diffs stays far below the
// 1 MiB object limit, and the limit is checked with a clear error.
const (
	activeName   = "cutoverbot-active"
	runPrefix    = "cutoverbot-run-"
	kvPrefix     = "cutoverbot-kv-"
	labelKind    = "cutoverbot.nycmesh.net/kind"
	labelManaged = "app.kubernetes.io/managed-by"
	keyPayload   = "run.json.gz"
	keyKV        = "value.json"
	keyKVName    = "key"
	// maxObject leaves room under the API server's 1 MiB limit for metadata.
	maxObject = 900 << 10
	kubeCall  = 20 * time.Second
)

// payload is what a run object holds.
type payload struct {
	Run   *engine.Run         `json:"run"`
	Audit []engine.AuditEntry `json:"audit"`
}

// Kube is the ConfigMap store.
type Kube struct {
	cms corev1client.ConfigMapInterface
	ns  string
}

var _ engine.Store = (*Kube)(nil)

// OpenKube binds the store to namespace ns and checks that it can list its objects.
func OpenKube(ctx context.Context, client kubernetes.Interface, ns string) (*Kube, error) {
	if ns == "" {
		return nil, errors.New("state.backend kubernetes: no namespace for the state (set state.namespace)")
	}
	k := &Kube{cms: client.CoreV1().ConfigMaps(ns), ns: ns}
	ctx, cancel := context.WithTimeout(ctx, kubeCall)
	defer cancel()
	if _, err := k.cms.List(ctx, metav1.ListOptions{LabelSelector: labelKind, Limit: 1}); err != nil {
		return nil, fmt.Errorf("state in namespace %s: list configmaps: %w", ns, err)
	}
	return k, nil
}

// Close has nothing to release.
func (k *Kube) Close() error { return nil }

// call bounds one API call within the caller's context: a caller may set no deadline,
// and a hung API server must not hold a write of the run for ever.
func call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, kubeCall)
}

func runObjectName(id string) string { return runPrefix + strings.ToLower(id) }

func encodePayload(p payload) ([]byte, error) {
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	if buf.Len() > maxObject {
		return nil, fmt.Errorf("run %s is %d bytes compressed, over the %d a ConfigMap can hold", p.Run.ID, buf.Len(), maxObject)
	}
	return buf.Bytes(), nil
}

func decodePayload(cm *corev1.ConfigMap) (payload, error) {
	var p payload
	raw, ok := cm.BinaryData[keyPayload]
	if !ok {
		return p, fmt.Errorf("configmap %s holds no %s", cm.Name, keyPayload)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return p, fmt.Errorf("configmap %s: %w", cm.Name, err)
	}
	js, err := io.ReadAll(io.LimitReader(zr, 64<<20))
	if err != nil {
		return p, fmt.Errorf("configmap %s: %w", cm.Name, err)
	}
	if err := json.Unmarshal(js, &p); err != nil || p.Run == nil {
		return p, fmt.Errorf("configmap %s: unreadable run record: %v", cm.Name, err)
	}
	return p, nil
}

// runObject builds the ConfigMap for a run; the annotations let `kubectl get -o yaml`
// show what it is without decoding.
func runObject(name, kind string, p payload) (*corev1.ConfigMap, error) {
	data, err := encodePayload(p)
	if err != nil {
		return nil, err
	}
	r := p.Run
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:   name,
			Labels: map[string]string{labelKind: kind, labelManaged: "cutoverbot"},
			Annotations: map[string]string{
				"cutoverbot.nycmesh.net/run":       r.ID,
				"cutoverbot.nycmesh.net/state":     string(r.State),
				"cutoverbot.nycmesh.net/cutover":   r.Origin + " -> " + r.Destination,
				"cutoverbot.nycmesh.net/initiator": r.Initiator,
				"cutoverbot.nycmesh.net/created":   r.Created.UTC().Format(time.RFC3339),
				"cutoverbot.nycmesh.net/version":   fmt.Sprint(r.Version),
			},
		},
		BinaryData: map[string][]byte{keyPayload: data},
	}, nil
}

func numberAudit(existing []engine.AuditEntry, add []engine.AuditEntry) []engine.AuditEntry {
	out := append([]engine.AuditEntry(nil), existing...)
	next := uint64(len(existing)) + 1
	for _, a := range add {
		a.Seq = next
		next++
		out = append(out, a)
	}
	return out
}

// readActive returns the active object and its payload, or nil when there is none.
func (k *Kube) readActive(ctx context.Context) (*corev1.ConfigMap, payload, error) {
	ctx, cancel := call(ctx)
	defer cancel()
	cm, err := k.cms.Get(ctx, activeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, payload{}, nil
	}
	if err != nil {
		return nil, payload{}, fmt.Errorf("read %s/%s: %w", k.ns, activeName, err)
	}
	p, err := decodePayload(cm)
	return cm, p, err
}

// Create stores a new run and takes the lock: creating cutoverbot-active succeeds for
// exactly one writer.
func (k *Kube) Create(ctx context.Context, run *engine.Run, audit []engine.AuditEntry) error {
	switch _, err := k.readArchived(ctx, run.ID); {
	case err == nil:
		return fmt.Errorf("run %s exists already", run.ID)
	case !errors.Is(err, engine.ErrNotFound):
		// Whether a run of this ID was archived is unknown: creating it could end by
		// overwriting that run's archive.
		return fmt.Errorf("create run %s: could not check it is new: %w", run.ID, err)
	}
	cm, err := runObject(activeName, "active", payload{Run: run, Audit: numberAudit(nil, audit)})
	if err != nil {
		return err
	}
	cctx, cancel := call(ctx)
	_, err = k.cms.Create(cctx, cm, metav1.CreateOptions{})
	cancel()
	if apierrors.IsAlreadyExists(err) {
		_, p, rerr := k.readActive(ctx)
		if rerr != nil {
			return rerr
		}
		if p.Run == nil {
			return fmt.Errorf("another run took the lock and released it meanwhile; try again")
		}
		if p.Run.State != engine.Active {
			// An ended run whose move to the archive was cut short: finish it, then retry.
			if err := k.settle(ctx); err != nil {
				return err
			}
			return k.Create(ctx, run, audit)
		}
		return &engine.BusyError{RunID: p.Run.ID, Holder: p.Run.Initiator, Since: p.Run.Created}
	}
	if err != nil {
		return fmt.Errorf("create %s/%s: %w", k.ns, activeName, err)
	}
	return nil
}

// Save stores the next version of a run. While the run is active it replaces the active
// object (conditional on the resourceVersion read); when it ends, it is written to its
// archive object and then the active object is deleted (conditional again). A crash
// between the two leaves an ended run in the active object, which the next read settles.
func (k *Kube) Save(ctx context.Context, run *engine.Run, audit []engine.AuditEntry) error {
	cm, p, err := k.readActive(ctx)
	if err != nil {
		return err
	}
	if cm == nil || p.Run.ID != run.ID {
		return k.saveArchived(ctx, run, audit)
	}
	if err := k.writeNext(ctx, cm, "active", p, run, audit); err != nil {
		return err
	}
	if run.State != engine.Active {
		// The run's own write landed, so Save succeeds: a move to the archive that fails
		// here is finished by the next read of the active object (Active, Create).
		_ = k.settle(ctx)
	}
	return nil
}

// settle moves an ended run from the active object to its archive object. The archive
// is written first, so a crash in between loses nothing.
func (k *Kube) settle(ctx context.Context) error {
	cm, p, err := k.readActive(ctx)
	if err != nil || cm == nil || p.Run.State == engine.Active {
		return err
	}
	if err := k.putArchived(ctx, p); err != nil {
		return err
	}
	ctx, cancel := call(ctx)
	defer cancel()
	rv := cm.ResourceVersion
	err = k.cms.Delete(ctx, activeName, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("release the lock of run %s: %w", p.Run.ID, err)
	}
	return nil
}

// putArchived writes p to the run's archive object unless that holds a newer version.
func (k *Kube) putArchived(ctx context.Context, p payload) error {
	obj, err := runObject(runObjectName(p.Run.ID), "run", p)
	if err != nil {
		return err
	}
	ctx, cancel := call(ctx)
	defer cancel()
	cur, err := k.cms.Get(ctx, obj.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = k.cms.Create(ctx, obj, metav1.CreateOptions{})
	case err != nil:
	default:
		old, derr := decodePayload(cur)
		if derr == nil && old.Run.Version >= p.Run.Version {
			return nil
		}
		obj.ResourceVersion = cur.ResourceVersion
		_, err = k.cms.Update(ctx, obj, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("archive run %s: %w", p.Run.ID, err)
	}
	return nil
}

func (k *Kube) readArchived(ctx context.Context, id string) (*corev1.ConfigMap, error) {
	ctx, cancel := call(ctx)
	defer cancel()
	cm, err := k.cms.Get(ctx, runObjectName(id), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("run %s: %w", id, engine.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read run %s: %w", id, err)
	}
	return cm, nil
}

// saveArchived updates a run that no longer holds the lock.
func (k *Kube) saveArchived(ctx context.Context, run *engine.Run, audit []engine.AuditEntry) error {
	cm, err := k.readArchived(ctx, run.ID)
	if err != nil {
		return fmt.Errorf("save run %s: %w", run.ID, err)
	}
	p, err := decodePayload(cm)
	if err != nil {
		return err
	}
	return k.writeNext(ctx, cm, "run", p, run, audit)
}

// writeNext replaces cm (holding p) with the next version of run and its new audit
// entries, conditional on the resourceVersion read.
func (k *Kube) writeNext(ctx context.Context, cm *corev1.ConfigMap, kind string, p payload, run *engine.Run, audit []engine.AuditEntry) error {
	if run.Version == p.Run.Version && sameRun(p.Run, run) && sameAudit(p.Audit, audit) {
		return nil // written already: a retry of a write that landed although it failed
	}
	if run.Version != p.Run.Version+1 {
		return fmt.Errorf("run %s: stored version %d, writing %d: %w", run.ID, p.Run.Version, run.Version, engine.ErrStaleWrite)
	}
	obj, err := runObject(cm.Name, kind, payload{Run: run, Audit: numberAudit(p.Audit, audit)})
	if err != nil {
		return err
	}
	obj.ResourceVersion = cm.ResourceVersion
	ctx, cancel := call(ctx)
	defer cancel()
	if _, err := k.cms.Update(ctx, obj, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsConflict(err) {
			return fmt.Errorf("run %s: %w (%v)", run.ID, engine.ErrStaleWrite, err)
		}
		return fmt.Errorf("save run %s: %w", run.ID, err)
	}
	return nil
}

// Active returns the run holding the lock, or nil. An ended run left in the active
// object by a crash is moved to the archive first.
func (k *Kube) Active(ctx context.Context) (*engine.Run, error) {
	cm, p, err := k.readActive(ctx)
	if err != nil || cm == nil {
		return nil, err
	}
	if p.Run.State != engine.Active {
		return nil, k.settle(ctx)
	}
	return p.Run, nil
}

// Get returns one run, the newest version of it wherever it is.
func (k *Kube) Get(ctx context.Context, id string) (*engine.Run, error) {
	p, err := k.newest(ctx, id)
	return p.Run, err
}

// newest reads one run where it may be (the active object, its archive object) and
// returns the newer version.
func (k *Kube) newest(ctx context.Context, id string) (payload, error) {
	_, best, err := k.readActive(ctx)
	if err != nil {
		return payload{}, err
	}
	if best.Run != nil && best.Run.ID != id {
		best = payload{}
	}
	cm, err := k.readArchived(ctx, id)
	if err != nil {
		if best.Run != nil && errors.Is(err, engine.ErrNotFound) {
			return best, nil
		}
		return payload{}, err
	}
	a, err := decodePayload(cm)
	if err != nil {
		return payload{}, err
	}
	if best.Run == nil || a.Run.Version > best.Run.Version {
		best = a
	}
	return best, nil
}

// all reads every run object: the newest payload per run ID.
func (k *Kube) all(ctx context.Context) (map[string]payload, error) {
	ctx, cancel := call(ctx)
	defer cancel()
	list, err := k.cms.List(ctx, metav1.ListOptions{LabelSelector: labelKind + " in (active,run)"})
	if err != nil {
		return nil, fmt.Errorf("list runs in %s: %w", k.ns, err)
	}
	out := map[string]payload{}
	for i := range list.Items {
		p, err := decodePayload(&list.Items[i])
		if err != nil {
			return nil, err
		}
		if cur, ok := out[p.Run.ID]; !ok || p.Run.Version > cur.Run.Version {
			out[p.Run.ID] = p
		}
	}
	return out, nil
}

// List returns up to limit runs, newest first.
func (k *Kube) List(ctx context.Context, limit int) ([]*engine.Run, error) {
	all, err := k.all(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*engine.Run, 0, len(all))
	for _, p := range all {
		out = append(out, p.Run)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].ID > out[j].ID
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Audit returns the audit log, oldest first, for one run or all ("").
func (k *Kube) Audit(ctx context.Context, runID string) ([]engine.AuditEntry, error) {
	if runID != "" {
		p, err := k.newest(ctx, runID)
		if errors.Is(err, engine.ErrNotFound) {
			return nil, nil
		}
		return p.Audit, err
	}
	all, err := k.all(ctx)
	if err != nil {
		return nil, err
	}
	var out []engine.AuditEntry
	for _, p := range all {
		out = append(out, p.Audit...)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].At.Equal(out[j].At) {
			return out[i].At.Before(out[j].At)
		}
		if out[i].RunID != out[j].RunID {
			return out[i].RunID < out[j].RunID
		}
		return out[i].Seq < out[j].Seq
	})
	return out, nil
}

func kvObjectName(key string) string {
	h := sha256.Sum256([]byte(key))
	return kvPrefix + hex.EncodeToString(h[:10])
}

// PutValue stores a small record (a schedule) under key.
func (k *Kube) PutValue(ctx context.Context, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	obj := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: kvObjectName(key), Labels: map[string]string{labelKind: "kv", labelManaged: "cutoverbot"}},
		Data:       map[string]string{keyKVName: key, keyKV: string(raw)},
	}
	ctx, cancel := call(ctx)
	defer cancel()
	// Last writer wins (replicas may write the same record): a conflict, or a create
	// that lost to another, means another write landed in between, so read again and
	// write over it.
	lostRace := func(err error) bool { return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) }
	err = retry.OnError(retry.DefaultRetry, lostRace, func() error {
		cur, err := k.cms.Get(ctx, obj.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			_, err = k.cms.Create(ctx, obj, metav1.CreateOptions{})
		case err == nil:
			obj.ResourceVersion = cur.ResourceVersion
			_, err = k.cms.Update(ctx, obj, metav1.UpdateOptions{})
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("store %s: %w", key, err)
	}
	return nil
}

// DeleteValue removes a record; a missing one is not an error.
func (k *Kube) DeleteValue(ctx context.Context, key string) error {
	ctx, cancel := call(ctx)
	defer cancel()
	err := k.cms.Delete(ctx, kvObjectName(key), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// Values calls fn for every record whose key starts with prefix, in key order.
func (k *Kube) Values(ctx context.Context, prefix string, fn func(key string, raw []byte) error) error {
	ctx, cancel := call(ctx)
	defer cancel()
	list, err := k.cms.List(ctx, metav1.ListOptions{LabelSelector: labelKind + "=kv"})
	if err != nil {
		return fmt.Errorf("list records in %s: %w", k.ns, err)
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Data[keyKVName] < list.Items[j].Data[keyKVName] })
	for _, cm := range list.Items {
		key := cm.Data[keyKVName]
		if !strings.HasPrefix(key, prefix) {
			continue
		}
		if err := fn(key, []byte(cm.Data[keyKV])); err != nil {
			return err
		}
	}
	return nil
}
