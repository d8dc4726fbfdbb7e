// Package store keeps runs, the one-active-run lock and the audit log. The default
// backend is an embedded bbolt file under state.dir; every write is one transaction
// that bbolt fsyncs before it returns, so what Save reported stored survives a crash.
package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
)

var (
	bucketRuns   = []byte("runs")
	bucketOrder  = []byte("runs_by_time")
	bucketAudit  = []byte("audit")
	bucketMeta   = []byte("meta")
	bucketKV     = []byte("kv")
	keyLock      = []byte("active")
	fileName     = "cutoverbot.db"
	openTimeout  = 5 * time.Second
	errNoLockRun = errors.New("the lock names a run that is not stored")
)

// lock is the one-active-run record: who holds it and since when.
type lock struct {
	RunID  string    `json:"run"`
	Holder string    `json:"holder"`
	Since  time.Time `json:"since"`
}

// Bolt is the embedded store.
type Bolt struct {
	db *bbolt.DB
}

var _ engine.Store = (*Bolt)(nil)

// Open opens (creating when needed) the store in dir. Another process holding the
// file makes Open fail after a few seconds instead of waiting forever.
func Open(dir string) (*Bolt, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, fileName)
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: openTimeout})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("open %s: another cutoverbot process holds it", path)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketRuns, bucketOrder, bucketAudit, bucketMeta, bucketKV} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("prepare %s: %w", path, err)
	}
	return &Bolt{db: db}, nil
}

// Close closes the file.
func (s *Bolt) Close() error { return s.db.Close() }

// A transaction on the local file is short and bbolt takes no context, so each method
// only refuses to begin once ctx has ended: a caller that gave up changes nothing.

// Create stores a new run and takes the lock in one transaction.
func (s *Bolt) Create(ctx context.Context, run *engine.Run, audit []engine.AuditEntry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if raw := meta.Get(keyLock); raw != nil {
			var l lock
			if err := json.Unmarshal(raw, &l); err != nil {
				return fmt.Errorf("read the lock: %w", err)
			}
			return &engine.BusyError{RunID: l.RunID, Holder: l.Holder, Since: l.Since}
		}
		if tx.Bucket(bucketRuns).Get([]byte(run.ID)) != nil {
			return fmt.Errorf("run %s exists already", run.ID)
		}
		if err := putJSON(meta, keyLock, lock{RunID: run.ID, Holder: run.Initiator, Since: run.Created}); err != nil {
			return err
		}
		order := tx.Bucket(bucketOrder)
		if err := order.Put(orderKey(run.Created, run.ID), []byte(run.ID)); err != nil {
			return err
		}
		return writeRun(tx, run, audit)
	})
}

// Save stores the next version of a run, its audit entries and the lock change.
func (s *Bolt) Save(ctx context.Context, run *engine.Run, audit []engine.AuditEntry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		raw := tx.Bucket(bucketRuns).Get([]byte(run.ID))
		if raw == nil {
			return fmt.Errorf("save run %s: %w", run.ID, engine.ErrNotFound)
		}
		var old engine.Run
		if err := json.Unmarshal(raw, &old); err != nil {
			return fmt.Errorf("read run %s: %w", run.ID, err)
		}
		if run.Version == old.Version && sameRun(&old, run) && sameAudit(lastAudit(tx, run.ID, len(audit)), audit) {
			return nil // written already: a retry of a write that landed
		}
		if run.Version != old.Version+1 {
			return fmt.Errorf("run %s: stored version %d, writing %d: %w", run.ID, old.Version, run.Version, engine.ErrStaleWrite)
		}
		if run.State != engine.Active {
			meta := tx.Bucket(bucketMeta)
			var l lock
			if raw := meta.Get(keyLock); raw != nil && json.Unmarshal(raw, &l) == nil && l.RunID == run.ID {
				if err := meta.Delete(keyLock); err != nil {
					return err
				}
			}
		}
		return writeRun(tx, run, audit)
	})
}

func writeRun(tx *bbolt.Tx, run *engine.Run, audit []engine.AuditEntry) error {
	if err := putJSON(tx.Bucket(bucketRuns), []byte(run.ID), run); err != nil {
		return err
	}
	ab := tx.Bucket(bucketAudit)
	for _, a := range audit {
		seq, err := ab.NextSequence()
		if err != nil {
			return err
		}
		a.Seq = seq
		if err := putJSON(ab, seqKey(seq), a); err != nil {
			return err
		}
	}
	return nil
}

// Active returns the run that holds the lock, or nil.
func (s *Bolt) Active(ctx context.Context) (*engine.Run, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out *engine.Run
	err := s.db.View(func(tx *bbolt.Tx) error {
		raw := tx.Bucket(bucketMeta).Get(keyLock)
		if raw == nil {
			return nil
		}
		var l lock
		if err := json.Unmarshal(raw, &l); err != nil {
			return fmt.Errorf("read the lock: %w", err)
		}
		r, err := getRun(tx, l.RunID)
		if errors.Is(err, engine.ErrNotFound) {
			return fmt.Errorf("lock for run %s: %w", l.RunID, errNoLockRun)
		}
		out = r
		return err
	})
	return out, err
}

// Get returns one run.
func (s *Bolt) Get(ctx context.Context, id string) (*engine.Run, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out *engine.Run
	err := s.db.View(func(tx *bbolt.Tx) error {
		r, err := getRun(tx, id)
		out = r
		return err
	})
	return out, err
}

// List returns up to limit runs, newest first.
func (s *Bolt) List(ctx context.Context, limit int) ([]*engine.Run, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []*engine.Run
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketOrder).Cursor()
		for k, v := c.Last(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Prev() {
			r, err := getRun(tx, string(v))
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// Audit returns the audit log, oldest first, for one run or all ("").
func (s *Bolt) Audit(ctx context.Context, runID string) ([]engine.AuditEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []engine.AuditEntry
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketAudit).ForEach(func(_, v []byte) error {
			var a engine.AuditEntry
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("read audit entry: %w", err)
			}
			if runID == "" || a.RunID == runID {
				out = append(out, a)
			}
			return nil
		})
	})
	return out, err
}

// PutValue keeps a small record that is not a run (a schedule) in the kv bucket.
func (s *Bolt) PutValue(ctx context.Context, key string, v any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(func(tx *bbolt.Tx) error { return putJSON(tx.Bucket(bucketKV), []byte(key), v) })
}

// DeleteValue removes a kv record.
func (s *Bolt) DeleteValue(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketKV).Delete([]byte(key)) })
}

// Values calls fn for every kv record whose key starts with prefix.
func (s *Bolt) Values(ctx context.Context, prefix string, fn func(key string, raw []byte) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketKV).Cursor()
		p := []byte(prefix)
		for k, v := c.Seek(p); k != nil && len(k) >= len(p) && string(k[:len(p)]) == prefix; k, v = c.Next() {
			if err := fn(string(k), v); err != nil {
				return err
			}
		}
		return nil
	})
}

func getRun(tx *bbolt.Tx, id string) (*engine.Run, error) {
	raw := tx.Bucket(bucketRuns).Get([]byte(id))
	if raw == nil {
		return nil, fmt.Errorf("run %s: %w", id, engine.ErrNotFound)
	}
	var r engine.Run
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("read run %s: %w", id, err)
	}
	return &r, nil
}

func putJSON(b *bbolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, raw)
}

func seqKey(seq uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, seq)
	return k
}

func orderKey(t time.Time, id string) []byte {
	k := make([]byte, 8, 8+len(id))
	binary.BigEndian.PutUint64(k, uint64(t.UnixNano()))
	return append(k, id...)
}

// Backend is what the server needs of a store: runs, the lock and audit (engine.Store)
// and small records (schedules).
type Backend interface {
	engine.Store
	PutValue(ctx context.Context, key string, v any) error
	DeleteValue(ctx context.Context, key string) error
	Values(ctx context.Context, prefix string, fn func(key string, raw []byte) error) error
}

var (
	_ Backend = (*Bolt)(nil)
	_ Backend = (*Kube)(nil)
)

// lastAudit returns the newest n audit entries of run id, oldest first.
func lastAudit(tx *bbolt.Tx, id string, n int) []engine.AuditEntry {
	var out []engine.AuditEntry
	c := tx.Bucket(bucketAudit).Cursor()
	for k, v := c.Last(); k != nil && len(out) < n; k, v = c.Prev() {
		var a engine.AuditEntry
		if json.Unmarshal(v, &a) == nil && a.RunID == id {
			out = append([]engine.AuditEntry{a}, out...)
		}
	}
	return out
}

// sameAudit says whether stored (the newest entries) are the entries add, numbers apart.
func sameAudit(stored, add []engine.AuditEntry) bool {
	if len(stored) < len(add) {
		return false
	}
	stored = stored[len(stored)-len(add):]
	for i := range add {
		a, b := stored[i], add[i]
		a.Seq, b.Seq = 0, 0
		if !a.At.Equal(b.At) {
			return false
		}
		a.At = b.At
		if a != b {
			return false
		}
	}
	return true
}

// sameRun says whether two versions of a run hold the same data (the store holds the
// new version already when a write is retried after it landed).
func sameRun(a, b *engine.Run) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}
