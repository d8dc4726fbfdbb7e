package engine_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	cutoverbot "github.com/nycmeshnet/cutoverbot"
	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/ops/store"
)

const (
	alice = "U01ALICE" // initiator in most tests
	bob   = "U02BOB"
	carol = "U03CAROL"
	eve   = "U09EVE" // not a maintainer
)

type maintainers map[string]bool

func (m maintainers) IsMaintainer(_ context.Context, u string) (bool, error) { return m[u], nil }

// clock is a manual clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// execKey identifies one execution of one attempt of one step.
type execKey struct {
	Run, Step string
	Attempt   int
}

// fakeExec records every execution and fails steps on request.
type fakeExec struct {
	mu    sync.Mutex
	calls []execKey
	fail  map[string]int // step ID -> failures left
	hold  map[string]chan struct{}
	// waits: steps that tell the engine they only wait before they hold
	waits map[string]bool
	// checks, when set, runs the preflight step instead (override_test.go).
	checks func(x engine.StepContext) (engine.Output, error)
}

func newFakeExec() *fakeExec {
	return &fakeExec{fail: map[string]int{}, hold: map[string]chan struct{}{}, waits: map[string]bool{}}
}

func (f *fakeExec) Execute(ctx context.Context, x engine.StepContext) (engine.Output, error) {
	f.mu.Lock()
	f.calls = append(f.calls, execKey{x.Run.ID, x.Step.ID, x.Attempt})
	failing := f.fail[x.Step.ID] > 0
	if failing {
		f.fail[x.Step.ID]--
	}
	hold := f.hold[x.Step.ID]
	waits := f.waits[x.Step.ID]
	checks := f.checks
	f.mu.Unlock()
	if checks != nil && x.Step.Kind == plan.KindPreflight {
		return checks(x)
	}
	x.ProgressReport(working{Step: x.Step.ID})
	if waits {
		x.OnlyWaiting()
	}
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return engine.Output{}, ctx.Err()
		}
	}
	if failing {
		return engine.Output{Summary: "partial"}, fmt.Errorf("%s failed on purpose", x.Step.ID)
	}
	out := engine.Output{Summary: x.Step.ID + " done", Values: map[string]string{}}
	if x.Step.Scale != nil && x.Step.Scale.Replicas != nil {
		out.Values["previous_replicas"] = "1"
		out = out.WithReport(scaled{From: 1, To: *x.Step.Scale.Replicas})
		out.Summary = ""
	}
	return out, nil
}

// scaled is what the fake executor reports of a scale step, as data.
type scaled struct {
	From int32 `json:"from"`
	To   int32 `json:"to"`
}

func (scaled) ReportKind() string { return "scaled" }

// working is the fake's progress: the step it works on.
type working struct {
	Step string `json:"step"`
}

func (working) ReportKind() string { return "working" }

func (f *fakeExec) Calls() []execKey {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]execKey(nil), f.calls...)
}

func (f *fakeExec) count(step string) int {
	n := 0
	for _, c := range f.Calls() {
		if c.Step == step {
			n++
		}
	}
	return n
}

func exampleConfig(t testing.TB) *config.Config {
	t.Helper()
	cfg, problems := config.Parse(cutoverbot.ExampleConfig, config.Options{Getenv: func(string) string { return "" }})
	require.Empty(t, problems.Criticals())
	return cfg
}

type harness struct {
	t     *testing.T
	dir   string
	store engine.Store
	eng   *engine.Engine
	exec  *fakeExec
	clock *clock
	cfg   *config.Config
	opts  engine.Options

	evMu   sync.Mutex
	events []engine.Event
}

func newHarness(t *testing.T, required int) *harness {
	h := &harness{t: t, dir: t.TempDir(), exec: newFakeExec(), clock: &clock{t: time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC)}, cfg: exampleConfig(t)}
	h.open(required)
	return h
}

func (h *harness) open(required int) {
	s, err := store.Open(h.dir)
	require.NoError(h.t, err)
	h.store = s
	h.opts = engine.Options{
		Store: s, Executor: h.exec, Policy: maintainers{alice: true, bob: true, carol: true},
		Build:             func(o, d string) (plan.Plan, error) { return plan.Build(h.cfg, o, d) },
		ApprovalsRequired: required, ApprovalTimeout: 2 * time.Hour, ReminderEvery: 15 * time.Minute,
		// A store that fails here fails on purpose (a simulated crash): no point retrying.
		StoreRetry: time.Millisecond,
		Clock:      h.clock.Now,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Observer: func(_ context.Context, ev engine.Event) {
			h.evMu.Lock()
			h.events = append(h.events, ev)
			h.evMu.Unlock()
		},
	}
	h.eng = engine.New(h.opts)
	require.NoError(h.t, h.eng.Recover(context.Background()))
	h.t.Cleanup(func() { _ = h.eng.Close(context.Background()); _ = s.Close() })
}

// reopen simulates a restart: a new engine over the same file.
func (h *harness) reopen() {
	h.eng.Wait()
	require.NoError(h.t, h.eng.Close(context.Background()))
	require.NoError(h.t, h.store.Close())
	h.open(h.opts.ApprovalsRequired)
}

func (h *harness) start() *engine.Run {
	r, err := h.eng.Start(context.Background(), "prod2", "prod1", alice)
	require.NoError(h.t, err)
	h.eng.Wait()
	return r
}

func (h *harness) active() *engine.Run {
	r := h.eng.Active()
	require.NotNil(h.t, r, "a run should be active")
	return r
}

func (h *harness) decide(user string, a engine.Action, reason string) (engine.Outcome, error) {
	r := h.eng.Active()
	if r == nil {
		return engine.Outcome{}, fmt.Errorf("no active run")
	}
	msg, err := h.eng.Decide(context.Background(), engine.Request{RunID: r.ID, Step: r.Current, Attempt: r.Steps[r.Current].Attempt, User: user, Action: a, Reason: reason})
	h.eng.Wait()
	return msg, err
}

func (h *harness) mustDecide(user string, a engine.Action, reason string) {
	h.t.Helper()
	_, err := h.decide(user, a, reason)
	require.NoError(h.t, err)
}

func (h *harness) stored(id string) *engine.Run {
	r, err := h.store.Get(context.Background(), id)
	require.NoError(h.t, err)
	return r
}

func (h *harness) eventKinds() []engine.EventKind {
	h.eng.WaitEvents()
	h.evMu.Lock()
	defer h.evMu.Unlock()
	var out []engine.EventKind
	for _, e := range h.events {
		out = append(out, e.Kind)
	}
	return out
}

func (h *harness) snapshotEvents() []engine.Event {
	h.eng.WaitEvents()
	h.evMu.Lock()
	defer h.evMu.Unlock()
	return append([]engine.Event(nil), h.events...)
}
