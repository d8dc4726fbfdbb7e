// Package e2e runs whole cutovers through every real part: the real slack-go client
// against the local Slack, real client-go against the local Kubernetes APIs, and real
// PostgreSQL servers with real pg_dump and pg_restore.
package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/nycmeshnet/cutoverbot/bot/slackfake"
	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/store"
	"github.com/nycmeshnet/cutoverbot/sandbox"
	"github.com/nycmeshnet/cutoverbot/sandbox/realcluster"
	"github.com/nycmeshnet/cutoverbot/sandbox/realkube"
	"github.com/nycmeshnet/cutoverbot/server"
)

const (
	alice    = "U01ALICE"
	bob      = "U02BOB"
	carol    = "U03CAROL"
	dave     = "U04DAVE" // a maintainer through the user group only
	eve      = "U09EVE"
	group    = "S0MAINT"
	channel  = "C0123MESHDB"
	botToken = "xoxb-e2e-bot-SECRETBOT"
	appToken = "xapp-e2e-app-SECRETAPP"
	ghToken  = "ghp_e2eSECRETGITHUB"
)

// clusterPlan is the runbook's cluster-side steps, with both announcements.
func clusterPlan() []config.StepSpec {
	i32 := func(v int32) *int32 { return &v }
	b := func(v bool) *bool { return &v }
	return []config.StepSpec{
		{Kind: "preflight", ID: "preflight"},
		{Kind: "scale", ID: "scale-destination-celery", Cluster: "destination", Workload: "statefulset", Replicas: i32(0)},
		{Kind: "maintenance", ID: "maintenance-on-destination", Cluster: "destination", On: b(true)},
		{Kind: "announce", ID: "announce-start", Template: "start"},
		{Kind: "scale", ID: "scale-origin-celery", Cluster: "origin", Workload: "statefulset", Replicas: i32(0)},
		{Kind: "maintenance", ID: "maintenance-on-origin", Cluster: "origin", On: b(true)},
		{Kind: "dump", ID: "dump-origin"},
		{Kind: "restore", ID: "restore-destination", RestoreFrom: "dump-origin"},
		{Kind: "verify", ID: "verify-database"},
		{Kind: "maintenance", ID: "maintenance-off-destination", Cluster: "destination", On: b(false)},
		{Kind: "scale", ID: "restore-destination-celery", Cluster: "destination", Workload: "statefulset", RestoreFrom: "scale-destination-celery"},
		{Kind: "announce", ID: "announce-done", Template: "done"},
	}
}

type world struct {
	t       *testing.T
	dir     string
	origin  *sandbox.Cluster
	dest    *sandbox.Cluster
	slack   *slackfake.Server
	cfg     *config.Config
	cfgPath string
	traffic *sandbox.Traffic
	// real holds each cluster's control plane, by name, with worldOptions.realKube.
	real map[string]*realkube.Cluster

	srv     *server.Server
	stop    context.CancelFunc
	done    chan error
	proc    *exec.Cmd
	procLog *os.File
}

type worldOptions struct {
	installs int
	mutate   func(*config.Config)
	// traffic adds GitHub, DNS and meshweb and runs the default 18-step plan.
	traffic bool
	// slack changes the local Slack (its scopes are the manifest's unless changed).
	slack func(*slackfake.Options)
	// realKube runs each cluster on a real control plane (sandbox/realcluster); the test
	// skips unless `make e2e-kube` enabled them.
	realKube bool
}

func newWorld(t *testing.T, o worldOptions) *world {
	t.Helper()
	if o.installs == 0 {
		o.installs = 1500
	}
	ctx := context.Background()
	w := &world{t: t, dir: t.TempDir()}
	newCluster := func(name string, opts sandbox.Options) (*sandbox.Cluster, error) {
		return sandbox.NewCluster(ctx, name, filepath.Join(w.dir, name), opts)
	}
	if o.realKube {
		bins := realkube.Require(t)
		var mu sync.Mutex
		w.real = map[string]*realkube.Cluster{}
		newCluster = func(name string, opts sandbox.Options) (*sandbox.Cluster, error) {
			c, kube, err := realcluster.Start(ctx, name, filepath.Join(w.dir, name), bins, opts)
			mu.Lock()
			w.real[name] = kube
			mu.Unlock()
			return c, err
		}
	}
	var wg sync.WaitGroup
	var errO, errD error
	wg.Add(2)
	go func() {
		defer wg.Done()
		w.origin, errO = newCluster("prod2", sandbox.Options{Installs: o.installs, ScaleDelay: 50 * time.Millisecond})
	}()
	go func() {
		defer wg.Done()
		w.dest, errD = newCluster("prod1", sandbox.Options{Installs: o.installs / 3, ScaleDelay: 50 * time.Millisecond})
	}()
	wg.Wait()
	for _, c := range []*sandbox.Cluster{w.origin, w.dest} {
		if c != nil {
			t.Cleanup(c.Close)
		}
	}
	require.NoError(t, errO)
	require.NoError(t, errD)
	// The bot's token has the scopes the manifest asks for, no more.
	so := slackfake.Options{BotToken: botToken, AppToken: appToken, Scopes: manifestScopes(t),
		Channels: map[string]string{channel: "meshdb", "C0RANDOM": "random"},
		Users:    map[string]string{alice: "alice", bob: "bob", carol: "carol", dave: "dave", eve: "eve"},
		Groups:   map[string][]string{group: {carol, dave}}}
	if o.slack != nil {
		o.slack(&so)
	}
	var err error
	w.slack, err = slackfake.Start(so)
	require.NoError(t, err)
	t.Cleanup(w.slack.Close)
	t.Cleanup(func() { slackCalls.add(w.slack.Calls()) }) // before Close: cleanups run last first
	clusters := []*sandbox.Cluster{w.origin, w.dest}
	_, base, err := sandbox.WriteConfig(w.dir, clusters, nil)
	require.NoError(t, err)
	w.traffic, err = sandbox.StartTraffic(w.dir, base, w.origin, w.dest, ghToken)
	require.NoError(t, err)
	t.Cleanup(w.traffic.Close)
	w.cfgPath, w.cfg, err = sandbox.WriteConfig(w.dir, clusters, func(c *config.Config) {
		c.Slack.APIURL = w.slack.APIURL()
		w.traffic.Configure(c)
		if !o.traffic {
			c.Plan = clusterPlan()
		}
		if o.mutate != nil {
			o.mutate(c)
		}
	})
	require.NoError(t, err)
	w.cfg.Tokens = config.Tokens{SlackBot: config.NewSecret(botToken), SlackApp: config.NewSecret(appToken), GitHub: config.NewSecret(ghToken)}
	return w
}

// logs is where the in-process bot logs, for the secrets scan.
type logs struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *logs) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.buf.Write(p) }
func (l *logs) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.buf.String() }

// startBot runs the bot in this process.
func (w *world) startBot(out io.Writer) { w.t.Helper(); w.startBotWith(out, nil) }

// startBotWith runs the bot in this process with options changed by opt.
func (w *world) startBotWith(out io.Writer, opt func(*server.Options)) {
	w.t.Helper()
	if out == nil {
		out = io.Discard
	}
	opts := server.Options{Logger: slog.New(slog.NewJSONHandler(out, nil)), TickEvery: 200 * time.Millisecond, DrainTimeout: 10 * time.Second}
	if opt != nil {
		opt(&opts)
	}
	srv, err := server.New(context.Background(), w.cfg, opts)
	require.NoError(w.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	w.srv, w.stop, w.done = srv, cancel, make(chan error, 1)
	go func() { w.done <- srv.Run(ctx) }()
	w.t.Cleanup(w.stopBot)
	w.waitFor("the bot to connect", w.slack.Connected)
}

func (w *world) stopBot() {
	if w.stop != nil {
		w.stop()
		<-w.done
		w.stop = nil
	}
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// binary builds cutoverbot once for the tests that kill it.
func binary(t *testing.T) string {
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cutoverbot-e2e-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "cutoverbot")
		out, err := exec.Command("go", "build", "-o", binPath, "../cmd/cutoverbot").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	require.NoError(t, binErr)
	return binPath
}

// startProcess runs `cutoverbot serve` as its own process, so it can be SIGKILLed.
func (w *world) startProcess() {
	w.t.Helper()
	raw, err := os.ReadFile(w.cfgPath)
	require.NoError(w.t, err)
	var m map[string]any
	require.NoError(w.t, yaml.Unmarshal(raw, &m))
	cmd := exec.Command(binary(w.t), "serve", "--config", w.cfgPath)
	cmd.Env = append(os.Environ(), "SLACK_BOT_TOKEN="+botToken, "SLACK_APP_TOKEN="+appToken, "GITHUB_TOKEN="+ghToken)
	f, err := os.OpenFile(filepath.Join(w.dir, "bot-process.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	require.NoError(w.t, err)
	cmd.Stdout, cmd.Stderr = f, f
	require.NoError(w.t, cmd.Start())
	w.proc, w.procLog = cmd, f
	w.t.Cleanup(func() {
		if w.proc != nil {
			_ = w.proc.Process.Kill()
			_ = w.proc.Wait()
		}
		f.Close()
	})
	w.waitFor("the bot process to connect", w.slack.Connected)
}

// stopProcess ends the bot process so its store can be read.
func (w *world) stopProcess() {
	w.t.Helper()
	require.NoError(w.t, w.proc.Process.Kill())
	_ = w.proc.Wait()
	w.proc = nil
}

// kill9 kills the bot process without warning, as a node dying would.
func (w *world) kill9() {
	w.t.Helper()
	require.NoError(w.t, w.proc.Process.Signal(syscall.SIGKILL))
	_ = w.proc.Wait()
	w.proc = nil
	w.waitFor("the dead bot's connection to close", func() bool { return !w.slack.Connected() })
}

func (w *world) waitFor(what string, cond func() bool) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	require.NoError(w.t, w.slack.WaitFor(ctx, cond), "waiting for %s", what)
}

func (w *world) command(user, text string) string {
	w.t.Helper()
	id, err := w.slack.SlashCommand(user, channel, text)
	require.NoError(w.t, err)
	return id
}

// header returns the run's top-level message.
func (w *world) header() slackfake.Message {
	for _, m := range w.slack.Messages(channel) {
		if strings.Contains(m.Text, "MeshDB cutover") {
			return m
		}
	}
	return slackfake.Message{}
}

// state is the header's notification text, which names the run's state.
func (w *world) state() string {
	h := w.header()
	m, _ := w.slack.Message(channel, h.TS)
	return m.Text
}

func (w *world) headerText() string {
	h := w.header()
	m, _ := w.slack.Message(channel, h.TS)
	return slackfake.TextOf(m)
}

// button finds the newest button with that label in the run's thread.
func (w *world) button(label string) (string, string, bool) {
	h := w.header()
	if h.TS == "" {
		return "", "", false
	}
	return w.slack.FindButton(channel, h.TS, label)
}

// click clicks the newest button with that label as user; it returns the envelope ID.
func (w *world) click(user, label string) string {
	w.t.Helper()
	var ts, action string
	w.waitFor("a "+label+" button", func() bool {
		var ok bool
		ts, action, ok = w.button(label)
		return ok
	})
	id, err := w.slack.Click(user, channel, ts, action)
	require.NoError(w.t, err)
	w.waitFor("the click to be acknowledged", func() bool { _, ok := w.slack.AckFor(id); return ok })
	return id
}

// approveAll clicks Approve as user on each prompt until the header says the run ended.
func (w *world) approveAll(user string, until string) {
	w.t.Helper()
	for i := 0; i < 60; i++ {
		if strings.Contains(w.state(), until) {
			return
		}
		var ts, action string
		w.waitFor("the next prompt or the end", func() bool {
			if strings.Contains(w.state(), until) {
				return true
			}
			if _, _, failed := w.button("Retry"); failed {
				w.t.Fatalf("a step failed: %s", w.headerText())
			}
			var ok bool
			ts, action, ok = w.button("Approve")
			return ok
		})
		if strings.Contains(w.state(), until) {
			return
		}
		_, err := w.slack.Click(user, channel, ts, action)
		require.NoError(w.t, err)
		w.waitFor("the prompt to be decided", func() bool {
			m, _ := w.slack.Message(channel, ts)
			return !strings.Contains(string(m.Blocks), `"Approve"`)
		})
	}
	w.t.Fatal("the run did not end")
}

// private returns what user saw privately, newest last.
func (w *world) private(user string) []string {
	var out []string
	for _, e := range w.slack.Ephemerals(user) {
		out = append(out, e.Text+" "+slackfake.BlocksText(e.Blocks))
	}
	return out
}

func (w *world) waitPrivate(user, contains string) {
	w.t.Helper()
	w.waitFor(fmt.Sprintf("@%s to be told %q", user, contains), func() bool {
		for _, p := range w.private(user) {
			if strings.Contains(p, contains) {
				return true
			}
		}
		return false
	})
}

// requireSameData proves the databases equal, outside the bot, and returns how many rows
// they hold (see rowsLost).
func (w *world) requireSameData() int64 {
	w.t.Helper()
	rows, lost := w.compareData()
	require.Zero(w.t, lost, "no rows lost")
	return rows
}

// finalRun opens the store after the bot stopped.
func (w *world) finalRun() (*engine.Run, []engine.AuditEntry) {
	w.t.Helper()
	st, err := store.Open(w.cfg.State.Dir)
	require.NoError(w.t, err)
	defer st.Close()
	runs, err := st.List(context.Background(), 1)
	require.NoError(w.t, err)
	require.Len(w.t, runs, 1)
	audit, err := st.Audit(context.Background(), runs[0].ID)
	require.NoError(w.t, err)
	return runs[0], audit
}
