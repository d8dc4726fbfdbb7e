package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nycmeshnet/cutoverbot/handlers"
	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/kube"
	"github.com/nycmeshnet/cutoverbot/ops/kube/kubefake"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/ops/store"
	"github.com/nycmeshnet/cutoverbot/sandbox/realkube"
)

// home is the cluster the bot itself runs in: its state ConfigMaps and its Lease. It is
// kubefake (srv), or a real control plane (real) where the bot is the ServiceAccount of
// the chart (deploy/helm), with its Role.
type home struct {
	srv        *kubefake.Server
	real       *realkube.Cluster
	kubeconfig string
}

func startHome(t *testing.T, dir string) *home {
	t.Helper()
	srv, err := kubefake.Start(kubefake.Options{})
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	path := filepath.Join(dir, "home-kubeconfig")
	require.NoError(t, kubefake.WriteKubeconfig(path, map[string]*kubefake.Server{"home": srv}))
	return &home{srv: srv, kubeconfig: path}
}

// haConfig puts the state in the home cluster with a short lease.
func (h *home) haConfig(c *config.Config) {
	c.State.Backend = "kubernetes"
	c.State.Kubeconfig = h.kubeconfig
	c.State.Context = "home"
	c.State.Namespace = "cutoverbot"
	c.State.LeaseDuration = config.Duration{Duration: 2 * time.Second}
}

func (h *home) store(t *testing.T) *store.Kube {
	t.Helper()
	cl, err := kube.Connect(kube.Options{Name: "home", Kubeconfig: h.kubeconfig, Context: "home", Namespace: "cutoverbot"})
	require.NoError(t, err)
	st, err := store.OpenKube(context.Background(), cl.Clientset(), "cutoverbot")
	require.NoError(t, err)
	return st
}

func (h *home) leaseHolder(t *testing.T) string {
	t.Helper()
	cl, err := kube.Connect(kube.Options{Name: "home", Kubeconfig: h.kubeconfig, Context: "home", Namespace: "cutoverbot"})
	require.NoError(t, err)
	l, err := cl.Clientset().CoordinationV1().Leases("cutoverbot").Get(context.Background(), "cutoverbot-leader", metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// replica is one `cutoverbot serve` process with its own state.dir (spool files are
// local to a replica, as on two pods) and its own health port.
type replica struct {
	name string
	addr string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

func (w *world) startReplica(name string) *replica {
	w.t.Helper()
	raw, err := os.ReadFile(w.cfgPath)
	require.NoError(w.t, err)
	var m map[string]any
	require.NoError(w.t, yaml.Unmarshal(raw, &m))
	r := &replica{name: name, addr: freeAddr(w.t), done: make(chan struct{})}
	m["state"].(map[string]any)["dir"] = filepath.Join(w.dir, "replica-"+name)
	m["http"].(map[string]any)["listen"] = r.addr
	out, err := yaml.Marshal(m)
	require.NoError(w.t, err)
	path := filepath.Join(w.dir, "cutover-"+name+".yaml")
	require.NoError(w.t, os.WriteFile(path, out, 0o600))

	r.cmd = exec.Command(binary(w.t), "serve", "--config", path)
	r.cmd.Env = append(os.Environ(), "SLACK_BOT_TOKEN="+botToken, "SLACK_APP_TOKEN="+appToken, "GITHUB_TOKEN="+ghToken, "POD_NAME=replica-"+name)
	r.log, err = os.OpenFile(filepath.Join(w.dir, "replica-"+name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	require.NoError(w.t, err)
	r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
	require.NoError(w.t, r.cmd.Start())
	go func() { _ = r.cmd.Wait(); close(r.done) }()
	w.t.Cleanup(func() {
		_ = r.cmd.Process.Kill()
		<-r.done
		r.log.Close()
	})
	return r
}

func (r *replica) get(path string) (int, string) {
	resp, err := http.Get("http://" + r.addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (r *replica) kill9(t *testing.T) {
	t.Helper()
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGKILL))
	<-r.done
}

// TestE2ETwoReplicasLeaderDiesFollowerResumes runs two bot processes sharing state in
// the home cluster. Only the leader holds a Slack connection; the leader is SIGKILLed
// while the dump runs; the follower takes the lease, connects, finds the dump
// interrupted, and after a Retry completes the run. Nothing runs twice without an
// approval and the data arrives whole.
func TestE2ETwoReplicasLeaderDiesFollowerResumes(t *testing.T) {
	h := startHome(t, t.TempDir())
	w := newWorld(t, worldOptions{installs: 600, mutate: h.haConfig})
	leaderDiesFollowerResumes(t, h, w)
}

func leaderDiesFollowerResumes(t *testing.T, h *home, w *world) {
	entered := make(chan struct{})
	var once sync.Once
	w.origin.SetExecHook(func(ctx context.Context, container string, argv []string) error {
		if len(argv) > 0 && argv[0] == "pg_dump" {
			first := false
			once.Do(func() { first = true; close(entered) })
			if first {
				<-ctx.Done() // the first dump hangs until its stream is cut
				return ctx.Err()
			}
		}
		return nil
	})

	a := w.startReplica("a")
	w.waitFor("replica a to lead and connect", w.slack.Connected)
	b := w.startReplica("b")
	w.waitFor("replica b to stand by", func() bool {
		code, body := b.get("/readyz")
		return code == http.StatusOK && strings.Contains(body, "standby")
	})
	assert.Equal(t, 1, w.slack.Connections(), "only the leader holds a Socket Mode connection")
	assert.True(t, strings.HasPrefix(h.leaseHolder(t), "replica-a_"), "a holds the lease: %s", h.leaseHolder(t))
	_, metricsB := b.get("/metrics")
	assert.Contains(t, metricsB, "cutoverbot_leader 0")

	w.command(alice, "start prod2 prod1")
	w.waitFor("the run header", func() bool { return w.header().TS != "" })
	for i := 0; i < 6; i++ { // steps 2-7; approving 7 starts the dump
		w.click(bob, "Approve")
		if i < 5 {
			want := "✅ " + string(rune('2'+i)) + "."
			w.waitFor(want, func() bool { return strings.Contains(w.headerText(), want) })
		}
	}
	<-entered // pg_dump runs in the origin pod, driven by replica a
	killedAt := time.Now()
	a.kill9(t)

	w.waitFor("replica b to take over and connect", func() bool {
		return strings.HasPrefix(h.leaseHolder(t), "replica-b_") && w.slack.Connected()
	})
	takeover := time.Since(killedAt)
	w.waitFor("the dump shown interrupted", func() bool { return strings.Contains(w.headerText(), "⚠️ 7.") })
	_, _, hasApprove := w.button("Approve")
	assert.False(t, hasApprove, "nothing runs on its own after the takeover")
	w.click(carol, "Retry")
	w.waitFor("the dump to run again and succeed", func() bool { return strings.Contains(w.headerText(), "✅ 7.") })
	w.approveAll(bob, "(completed)")
	lost := w.rowsLost()

	code, body := b.get("/readyz")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ready\n", body)
	_, metricsB = b.get("/metrics")
	assert.Contains(t, metricsB, "cutoverbot_leader 1")

	st := h.store(t)
	runs, err := st.List(context.Background(), 0)
	require.NoError(t, err)
	require.Len(t, runs, 1)
	run := runs[0]
	assert.Equal(t, engine.Completed, run.State)
	for _, s := range run.Steps {
		want := 1
		if s.Step.ID == "dump-origin" {
			want = 2 // cut by the kill, then again after carol's Retry
		}
		assert.Equal(t, want, s.Executions, "%s", s.Step.ID)
	}
	audit, err := st.Audit(context.Background(), run.ID)
	require.NoError(t, err)
	var decisions []string
	for _, e := range audit {
		if strings.HasPrefix(e.Event, "decision.") {
			decisions = append(decisions, fmt.Sprintf("%s by %s", e.Event, e.User))
		}
	}
	assert.Contains(t, decisions, "decision.retry by "+carol)
	assert.GreaterOrEqual(t, len(decisions), 12, "every decision is in the shared audit log: %v", decisions)
	t.Logf("takeover after SIGKILL: %s (lease 2s)", takeover.Round(100*time.Millisecond))

	// Secrets: Slack payloads, both replicas' logs, every stored record.
	for _, name := range []string{"a", "b"} {
		logText, err := os.ReadFile(filepath.Join(w.dir, "replica-"+name+".log"))
		require.NoError(t, err)
		w.scanSecrets(string(logText))
	}
	stored, err := json.Marshal(runs)
	require.NoError(t, err)
	assertNoSecret(t, string(stored))
	for _, e := range audit {
		assertNoSecret(t, handlers.AuditText(e))
	}
	requireDecisions(t, audit, len(clusterPlan())-1, 1)
	record(t, suiteRow{Scenario: "two replicas, leader SIGKILLed mid-dump", Faults: "leader killed; follower took the lease and resumed",
		Runs: completed(run), RunTwice: stepsRunTwice(run, audit), RowsLost: lost, Decisions: len(decisions)})
}

// TestE2ELeaderThatLosesItsLeaseStops cuts the leader off from its home API server:
// unable to renew, it must stop serving Slack and exit (to restart as a standby)
// before the lease could pass to another replica.
func TestE2ELeaderThatLosesItsLeaseStops(t *testing.T) {
	h := startHome(t, t.TempDir())
	w := newWorld(t, worldOptions{installs: 300, mutate: h.haConfig})
	leaderThatLosesItsLeaseStops(t, h, w)
}

func leaderThatLosesItsLeaseStops(t *testing.T, h *home, w *world) {
	a := w.startReplica("a")
	w.waitFor("replica a to lead and connect", w.slack.Connected)
	code, _ := a.get("/readyz")
	require.Equal(t, http.StatusOK, code)

	h.cutOff(t)
	select {
	case <-a.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the leader kept running without its lease")
	}
	assert.NotEqual(t, 0, a.cmd.ProcessState.ExitCode(), "it exits with an error, so Kubernetes restarts it")
	w.waitFor("its Slack connection to close", func() bool { return !w.slack.Connected() })
	logText, err := os.ReadFile(filepath.Join(w.dir, "replica-a.log"))
	require.NoError(t, err)
	assert.Contains(t, string(logText), "lost the leader lease")
}

// TestE2EHealthzProvesTheStoreTakesWrites: with the state in ConfigMaps and an identity
// that may read but not write them, /healthz fails and says why.
func TestE2EHealthzProvesTheStoreTakesWrites(t *testing.T) {
	h := startHome(t, t.TempDir())
	w := newWorld(t, worldOptions{installs: 100, mutate: h.haConfig})
	h.srv.Deny(kubefake.Permission{Verb: "create", Resource: "configmaps"})
	a := w.startReplica("a")
	w.waitFor("the health endpoint", func() bool { code, _ := a.get("/healthz"); return code != 0 })
	code, body := a.get("/healthz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, "store")
	assert.Contains(t, body, "forbidden")
}

// TestE2EFailoverAfterTheDumpRedumpsOnTheFollower kills the leader while the restore's
// prompt waits: the dump's spool file is on the dead replica's own volume. The
// follower's restore finds no spool, dumps the origin again (it is in maintenance),
// and the data arrives whole.
func TestE2EFailoverAfterTheDumpRedumpsOnTheFollower(t *testing.T) {
	h := startHome(t, t.TempDir())
	w := newWorld(t, worldOptions{installs: 600, mutate: h.haConfig})
	a := w.startReplica("a")
	w.waitFor("replica a to lead", w.slack.Connected)
	b := w.startReplica("b")
	w.waitFor("replica b to stand by", func() bool { _, body := b.get("/readyz"); return strings.Contains(body, "standby") })

	w.command(alice, "start prod2 prod1")
	w.waitFor("the run header", func() bool { return w.header().TS != "" })
	for step := 2; step <= 7; step++ { // through the dump
		w.click(bob, "Approve")
		done := "✅ " + strconv.Itoa(step) + "."
		w.waitFor(done, func() bool { return strings.Contains(w.headerText(), done) })
	}
	w.waitFor("the restore's prompt", func() bool {
		_, _, ok := w.button("Approve")
		return ok && strings.Contains(w.headerText(), "⏳ 8.")
	})
	w.promptStored()
	a.kill9(t)
	// Its volume went with it (the replicas share this machine's disk here).
	require.NoError(t, os.RemoveAll(filepath.Join(w.dir, "replica-a")))
	// The destination's postgres pod restarted too: the copy of the dump the dump step
	// staged there is gone, so only the origin can provide the data again.
	run0, err := h.store(t).Active(context.Background())
	require.NoError(t, err)
	require.NoError(t, w.dest.Execer().Exec(context.Background(), []string{"sh", "-c", "rm -f " + plan.RemoteDumpPath(run0.ID)}, nil, io.Discard, io.Discard))
	w.waitFor("replica b to take over", func() bool { return strings.HasPrefix(h.leaseHolder(t), "replica-b_") && w.slack.Connected() })

	w.click(carol, "Approve") // the same prompt, now served by b
	w.waitFor("the restore", func() bool { return strings.Contains(w.headerText(), "✅ 8.") })
	w.approveAll(bob, "(completed)")
	lost := w.rowsLost()

	st := h.store(t)
	runs, err := st.List(context.Background(), 1)
	require.NoError(t, err)
	run := runs[0]
	assert.Equal(t, engine.Completed, run.State)
	restore := run.Steps[7]
	require.Equal(t, "restore-destination", restore.Step.ID)
	assert.Contains(t, handlers.OutputText(restore.Output)+restore.Output.Details, "not on this replica")
	audit, err := st.Audit(context.Background(), run.ID)
	require.NoError(t, err)
	assert.Zero(t, stepsRunTwice(run, audit))
	requireDecisions(t, audit, len(clusterPlan())-1, 0)
	record(t, suiteRow{Scenario: "two replicas, leader SIGKILLed before restore", Faults: "leader killed with the dump on its own volume; follower re-dumped",
		Runs: completed(run), RunTwice: stepsRunTwice(run, audit), RowsLost: lost, Decisions: decisions(audit)})
}
