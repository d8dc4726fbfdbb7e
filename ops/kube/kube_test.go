package kube_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/nycmeshnet/cutoverbot/ops/kube"
	"github.com/nycmeshnet/cutoverbot/ops/kube/kubefake"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

const ns = "meshdb"

// startServer starts a fake API server that is closed with the test.
func startServer(t testing.TB, opts kubefake.Options) *kubefake.Server {
	t.Helper()
	srv, err := kubefake.Start(opts)
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	return srv
}

// connect writes a kubeconfig for the servers and connects to the named context.
func connect(t testing.TB, name string, servers map[string]*kubefake.Server) (*kube.Cluster, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, kubefake.WriteKubeconfig(path, servers))
	c, err := kube.Connect(kube.Options{Name: name, Kubeconfig: path, Context: name, Namespace: ns,
		Timeout: 10 * time.Second, PollInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	return c, path
}

// startCluster is one fake server reached as cluster prod1.
func startCluster(t testing.TB, opts kubefake.Options) (*kubefake.Server, *kube.Cluster) {
	t.Helper()
	srv := startServer(t, opts)
	c, _ := connect(t, "prod1", map[string]*kubefake.Server{"prod1": srv})
	return srv, c
}

func TestContextsInOneKubeconfigReachTheirOwnServer(t *testing.T) {
	prod1 := startServer(t, kubefake.Options{})
	prod2 := startServer(t, kubefake.Options{})
	prod2.AddStatefulSet(ns, "meshdb-celery-worker", 1, map[string]string{"app": "celery"})
	servers := map[string]*kubefake.Server{"prod1": prod1, "prod2": prod2}
	c1, _ := connect(t, "prod1", servers)
	c2, _ := connect(t, "prod2", servers)
	ctx := context.Background()

	require.NoError(t, c1.Ping(ctx))
	require.NoError(t, c2.Ping(ctx))
	assert.Equal(t, "prod2", c2.Name())
	assert.NoError(t, c2.WorkloadExists(ctx, kube.StatefulSet, "meshdb-celery-worker"))
	err := c1.WorkloadExists(ctx, kube.StatefulSet, "meshdb-celery-worker")
	assert.ErrorIs(t, err, kube.ErrNotFound)
	assert.Equal(t, report.WorkloadNotFound{Cluster: "prod1", Namespace: "meshdb", Kind: "statefulset", Name: "meshdb-celery-worker"}, failure(t, err).Facts)
}

func TestConnectToMissingContextFails(t *testing.T) {
	srv := startServer(t, kubefake.Options{})
	_, path := connect(t, "prod1", map[string]*kubefake.Server{"prod1": srv})
	_, err := kube.Connect(kube.Options{Name: "prod9", Kubeconfig: path, Context: "prod9"})
	var f *report.Failed
	require.ErrorAs(t, err, &f)
	assert.Equal(t, report.Connect{Cluster: "prod9", How: report.ConnectKubeconfig, Kubeconfig: path, Context: "prod9"}, f.Facts)
	assert.ErrorContains(t, f.Err, "prod9", "the loader says which context is missing")
}

func TestBadTokenIsRefusedWithClearError(t *testing.T) {
	srv := startServer(t, kubefake.Options{})
	srv.AddPod(ns, "web-1", map[string]string{"app": "web"}, map[string]string{"web": "x@sha256:aa"}, true, time.Time{})
	_, path := connect(t, "prod1", map[string]*kubefake.Server{"prod1": srv})
	cfg, err := clientcmd.LoadFromFile(path)
	require.NoError(t, err)
	cfg.AuthInfos["prod1"].Token = "wrong-token"
	require.NoError(t, clientcmd.WriteToFile(*cfg, path))
	c, err := kube.Connect(kube.Options{Name: "prod1", Kubeconfig: path, Context: "prod1", Namespace: ns})
	require.NoError(t, err)

	err = c.Ping(context.Background())
	require.Error(t, err)
	assert.Equal(t, report.Ping{Cluster: "prod1", Host: failure(t, err).Facts.(report.Ping).Host, How: report.PingCall}, failure(t, err).Facts)
	assert.Equal(t, report.APIRefused{Code: 401}, failure(t, failure(t, err).Err).Facts)

	err = c.Exec(context.Background(), "web-1", "web", []string{"true"}, nil, nil, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Unauthorized")
	assert.Zero(t, srv.ExecCount())
}

func TestUnreachableServer(t *testing.T) {
	srv, c := startCluster(t, kubefake.Options{})
	srv.SetReachable(false)
	err := c.Ping(context.Background())
	ping, ok := failure(t, err).Facts.(report.Ping)
	require.True(t, ok, "%v", err)
	assert.Equal(t, report.Ping{Cluster: "prod1", Host: ping.Host, How: report.PingCall}, ping)
	assert.NotEmpty(t, ping.Host, "the address tried is named")
	srv.SetReachable(true)
	assert.NoError(t, c.Ping(context.Background()))
}

// FindPod's choice among pods is a contract test (contract_test.go), held against a
// real API server too.

func TestFindPodSetBasedSelectorAndReadiness(t *testing.T) {
	srv, c := startCluster(t, kubefake.Options{})
	srv.AddPod(ns, "pg-0", map[string]string{"app": "meshdb-postgres-app", "tier": "db"},
		map[string]string{"meshdb-postgres": "docker.io/library/postgres@sha256:15"}, false, time.Time{})
	ctx := context.Background()

	_, err := c.FindPod(ctx, "app in (meshdb-postgres-app),tier!=web", "meshdb-postgres")
	require.ErrorIs(t, err, kube.ErrNoPod)
	assert.Equal(t, 1, failure(t, err).Facts.(report.NoPod).Matched, "one pod matches the selector, none is ready")

	srv.SetPodReady(ns, "pg-0", true)
	p, err := c.FindPod(ctx, "app in (meshdb-postgres-app),tier!=web", "meshdb-postgres")
	require.NoError(t, err)
	assert.Equal(t, "pg-0", p.Name)
}

func TestImageDigest(t *testing.T) {
	srv, c := startCluster(t, kubefake.Options{})
	const digest = "docker.io/nycmeshnet/meshdb@sha256:4b825dc642cb6eb9a060e54bf8d69288fbee4904"
	base := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	srv.AddPod(ns, "web-old", map[string]string{"app": "web"}, map[string]string{"meshdb-meshweb": "docker.io/nycmeshnet/meshdb@sha256:old"}, true, base)
	srv.AddPod(ns, "web-new", map[string]string{"app": "web"}, map[string]string{"meshdb-meshweb": "docker-pullable://" + digest, "nginx": "nginx@sha256:ff"}, true, base.Add(time.Minute))

	got, err := c.ImageDigest(context.Background(), "app=web", "meshdb-meshweb")
	require.NoError(t, err)
	assert.Equal(t, digest, got)

	_, err = c.ImageDigest(context.Background(), "app=web", "absent")
	assert.ErrorIs(t, err, kube.ErrNoPod)
}

func TestScale(t *testing.T) {
	for _, kind := range []kube.Workload{kube.StatefulSet, kube.Deployment} {
		t.Run(string(kind), func(t *testing.T) {
			// The delay is long next to the 10ms poll, so the wait sees the old status first.
			srv, c := startCluster(t, kubefake.Options{ScaleDelay: 500 * time.Millisecond})
			labels := map[string]string{"app": "meshdb-celery-worker"}
			if kind == kube.StatefulSet {
				srv.AddStatefulSet(ns, "meshdb-celery-worker", 3, labels)
			} else {
				srv.AddDeployment(ns, "meshdb-celery-worker", 3, labels)
			}
			var mu sync.Mutex
			var msgs []kube.ScaleProgress
			progress := func(p kube.ScaleProgress) {
				mu.Lock()
				defer mu.Unlock()
				msgs = append(msgs, p)
			}

			prev, err := c.Scale(context.Background(), kind, "meshdb-celery-worker", 0, 30*time.Second, progress)
			require.NoError(t, err)
			assert.Equal(t, int32(3), prev)
			assert.Equal(t, int32(0), srv.SpecReplicas(string(kind), ns, "meshdb-celery-worker"))
			spec, status, err := c.Replicas(context.Background(), kind, "meshdb-celery-worker")
			require.NoError(t, err)
			assert.Equal(t, [2]int32{0, 0}, [2]int32{spec, status})
			at := func(status int32) kube.ScaleProgress { return kube.ScaleProgress{Previous: 3, Want: 0, Status: status} }
			want := []kube.ScaleProgress{at(3), at(0)}
			if kind == kube.StatefulSet { // one pod at a time, as the StatefulSet controller does
				want = []kube.ScaleProgress{at(3), at(2), at(1), at(0)}
			}
			assert.Equal(t, want, msgs)

			// Scaling back records 0 as the previous count.
			prev, err = c.Scale(context.Background(), kind, "meshdb-celery-worker", 2, 30*time.Second, nil)
			require.NoError(t, err)
			assert.Equal(t, int32(0), prev)
			assert.Equal(t, int32(2), srv.StatusReplicas(string(kind), ns, "meshdb-celery-worker"))
		})
	}
}

func TestScaleTimeoutNamesTheState(t *testing.T) {
	// Status never catches up within the test.
	srv, c := startCluster(t, kubefake.Options{ScaleDelay: time.Hour})
	srv.AddStatefulSet(ns, "meshdb-celery-worker", 1, map[string]string{"app": "celery"})

	prev, err := c.Scale(context.Background(), kube.StatefulSet, "meshdb-celery-worker", 0, 200*time.Millisecond, nil)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, int32(1), prev)
	assert.Equal(t, report.ScaleFailed{How: report.ScaleStuck, Cluster: "prod1", Namespace: "meshdb", Kind: "statefulset", Name: "meshdb-celery-worker",
		Previous: 1, Replicas: 0, Status: 1, Timeout: 200 * time.Millisecond}, failure(t, err).Facts)
	assert.Equal(t, int32(0), srv.SpecReplicas(kubefake.KindStatefulSet, ns, "meshdb-celery-worker"))
}

func TestScaleMissingWorkload(t *testing.T) {
	_, c := startCluster(t, kubefake.Options{})
	_, err := c.Scale(context.Background(), kube.Deployment, "meshweb", 0, time.Second, nil)
	require.ErrorIs(t, err, kube.ErrNotFound)
	assert.Equal(t, report.WorkloadNotFound{Cluster: "prod1", Namespace: "meshdb", Kind: "deployment", Name: "meshweb"}, failure(t, err).Facts)
	_, err = c.Scale(context.Background(), kube.Workload("daemonset"), "x", 0, time.Second, nil)
	assert.Error(t, err)
	assert.False(t, errors.Is(err, kube.ErrNotFound))
}
