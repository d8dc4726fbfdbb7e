package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/nycmeshnet/cutoverbot/metrics"
	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/kube"
	"github.com/nycmeshnet/cutoverbot/ops/store"
)

// errLostLease ends a leader that stopped renewing its Lease: another replica may lead
// now, so this one must stop acting and start over as a standby.
var errLostLease = errors.New("lost the leader lease: another replica may lead now; restarting as a standby")

// OpenStore opens the configured store. For the kubernetes backend it also returns the
// client of the bot's own namespace (for the Lease).
func OpenStore(ctx context.Context, cfg *config.Config) (store.Backend, *kube.Cluster, error) {
	if cfg.State.Backend != "kubernetes" {
		st, err := store.Open(cfg.State.Dir)
		return st, nil, err
	}
	home, err := kube.Connect(kube.Options{Name: "state", Kubeconfig: cfg.State.Kubeconfig, Context: cfg.State.Context, Namespace: cfg.State.Namespace})
	if err != nil {
		return nil, nil, fmt.Errorf("state.backend kubernetes: %w", err)
	}
	st, err := store.OpenKube(ctx, home.Clientset(), home.Namespace())
	if err != nil {
		return nil, nil, err
	}
	return st, home, nil
}

// elector runs the Lease election of state.backend kubernetes.
type elector struct {
	client   kubernetes.Interface
	ns, name string
	identity string
	lease    time.Duration
	log      *slog.Logger
	isLeader atomic.Bool
	mu       sync.Mutex
	current  string
}

func newElector(cfg *config.Config, home *kube.Cluster, log *slog.Logger) (*elector, error) {
	id := os.Getenv("POD_NAME")
	if id == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("leader election: no POD_NAME and no hostname: %w", err)
		}
		id = h
	}
	// Two processes on one host (tests, a laptop) must not share an identity.
	id = fmt.Sprintf("%s_%d", id, os.Getpid())
	return &elector{client: home.Clientset(), ns: home.Namespace(), name: cfg.State.LeaseName, identity: id,
		lease: cfg.State.LeaseDuration.Duration, log: log}, nil
}

func (e *elector) leading() bool { return e.isLeader.Load() }

func (e *elector) holder() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.current == "" {
		return "no replica yet"
	}
	return e.current
}

// run campaigns until ctx ends. When elected it calls lead with a context that ends
// when ctx does or the lease is lost; the lease is released only after lead returned
// (the step in flight is drained first), so a successor never overlaps it.
func (e *elector) run(ctx context.Context, m *metrics.Metrics, lead func(context.Context) error) error {
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: e.name, Namespace: e.ns},
		Client:     e.client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: e.identity},
	}
	electCtx, stopElect := context.WithCancel(context.Background())
	defer stopElect()
	leadCtx := make(chan context.Context, 1)
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   e.lease,
		RenewDeadline:   e.lease * 2 / 3,
		RetryPeriod:     max(e.lease/8, 100*time.Millisecond),
		ReleaseOnCancel: true,
		Name:            "cutoverbot",
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(lctx context.Context) { leadCtx <- lctx },
			OnStoppedLeading: func() {}, // required by client-go; run() does the stopping
			OnNewLeader: func(id string) {
				e.mu.Lock()
				e.current = id
				e.mu.Unlock()
				if id != e.identity {
					e.log.Info("standing by", "leader", id, "me", e.identity)
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	done := make(chan struct{})
	go func() { le.Run(electCtx); close(done) }()
	e.log.Info("campaigning for the lease", "lease", e.ns+"/"+e.name, "me", e.identity)

	var lctx context.Context
	select {
	case <-ctx.Done():
		stopElect()
		<-done
		return nil
	case lctx = <-leadCtx:
	case <-done:
		return errors.New("leader election stopped before this replica was elected")
	}
	e.isLeader.Store(true)
	m.Leader.Set(1)
	e.log.Info("elected leader", "me", e.identity)
	both, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(lctx, cancel)
	err = lead(both)
	stop()
	cancel()
	e.isLeader.Store(false)
	m.Leader.Set(0)
	stopElect() // releases the lease if it is still ours
	<-done
	return err
}
