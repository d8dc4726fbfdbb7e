// Package server assembles the running bot: configuration, store, engine, step
// executors, Slack transport and the health endpoints. `cutoverbot serve` and the
// sandbox demo both start one.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"
	"k8s.io/klog/v2"

	"github.com/nycmeshnet/cutoverbot/bot"
	"github.com/nycmeshnet/cutoverbot/bot/message"
	"github.com/nycmeshnet/cutoverbot/bot/transport"
	"github.com/nycmeshnet/cutoverbot/buildinfo"
	"github.com/nycmeshnet/cutoverbot/handlers"
	"github.com/nycmeshnet/cutoverbot/metrics"
	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/github"
	"github.com/nycmeshnet/cutoverbot/ops/kube"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/ops/schedule"
	"github.com/nycmeshnet/cutoverbot/ops/steps"
	"github.com/nycmeshnet/cutoverbot/ops/store"
)

// DefaultDrainTimeout is how long shutdown waits for the step in flight before it
// cancels it; the step then stops the commands it started in the pods (at most
// steps.StopOwnTimeout). A pod's terminationGracePeriodSeconds must exceed both.
const DefaultDrainTimeout = 2 * time.Minute

// Options adjust the assembly for tests and the demo.
type Options struct {
	Logger *slog.Logger
	Clock  func() time.Time
	// TickEvery is how often approvals are checked for expiry and reminders.
	TickEvery time.Duration
	// DrainTimeout bounds how long shutdown waits for the step in flight (default
	// DefaultDrainTimeout).
	DrainTimeout time.Duration
	// WrapStore, when set, wraps the store the configuration names (the reliability
	// suite puts a store that fails writes in front of it).
	WrapStore func(store.Backend) store.Backend
}

// Server is the assembled bot.
type Server struct {
	cfg       *config.Config
	opts      Options
	store     store.Backend
	elector   *elector
	Engine    *engine.Engine
	Handler   *handlers.Handler
	Metrics   *metrics.Metrics
	Scheduler *schedule.Scheduler
	// clusterSteps also clean up after runs: at their end, and state.retention later.
	clusterSteps *steps.ClusterSteps
	stopForStore atomic.Pointer[context.CancelCauseFunc]
	transport    *transport.Transport
	post         func(context.Context, message.Message) error // a top-level post in the channel
	deploys      *deployWatch
	http         *http.Server
	listener     net.Listener
	ready        atomic.Bool
	healthMu     sync.Mutex
	healthAt     time.Time
	healthErr    error
}

// New opens the store, connects to the clusters and wires everything; it does not
// connect to Slack until Run. ctx bounds the opening of the store.
func New(ctx context.Context, cfg *config.Config, opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.TickEvery == 0 {
		opts.TickEvery = 30 * time.Second
	}
	if opts.DrainTimeout == 0 {
		opts.DrainTimeout = DefaultDrainTimeout
	}
	// client-go logs through klog; send it to the bot's logger instead of stderr.
	klog.SetSlogLogger(opts.Logger)
	s := &Server{cfg: cfg, opts: opts, Metrics: metrics.New()}
	registerBuildInfo(s.Metrics.Registry, buildinfo.Read())
	st, home, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if opts.WrapStore != nil {
		st = opts.WrapStore(st)
	}
	s.store = st
	if home != nil {
		if s.elector, err = newElector(cfg, home, opts.Logger); err != nil {
			st.Close()
			return nil, err
		}
	}

	clusters := map[string]steps.Cluster{}
	conns := map[string]*kube.Cluster{}
	for name, cc := range cfg.Clusters {
		c, err := kube.Connect(kube.Options{Name: name, Kubeconfig: cc.Kubeconfig, Context: cc.Context, Namespace: cc.Namespace})
		if err != nil {
			st.Close()
			return nil, err // it names the cluster
		}
		clusters[name] = c
		conns[name] = c
	}
	exec := steps.New(cfg)
	s.clusterSteps = steps.RegisterClusterSteps(exec, cfg, clusters)
	exec.AddReportingCheck("permissions", permissionsCheck(cfg, conns))
	gh, err := github.New(cfg.GitHub.APIURL, cfg.Tokens.GitHub.Reveal(), nil)
	if err != nil {
		st.Close()
		return nil, err
	}
	if _, err := steps.RegisterTrafficSteps(exec, cfg, gh, steps.PRWords{Title: handlers.PRTitle, Body: handlers.PRBody, CommitMessage: handlers.PRCommitMessage}); err != nil {
		st.Close()
		return nil, err
	}

	// Slack: the transport's client carries the sender, the poster and the lookup of
	// maintainers; the transport delivers to the handler once Run starts it.
	tr, err := transport.New(transport.Options{
		BotToken: cfg.Tokens.SlackBot.Reveal(), AppToken: cfg.Tokens.SlackApp.Reveal(), APIURL: cfg.Slack.APIURL, Logger: opts.Logger,
		OnAck: func(d time.Duration) { s.Metrics.AckLatency.Observe(d.Seconds()) },
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	s.transport = tr
	sender := transport.NewSender(tr.Client(), opts.Logger)
	sender.OnRateLimit = func(d time.Duration) { s.Metrics.RateLimitWait.WithLabelValues("slack").Add(d.Seconds()) }
	sender.OnError = func(method string) { s.Metrics.APIErrors.WithLabelValues("slack", method).Inc() }
	poster := bot.Poster{Sender: sender}
	s.post = func(ctx context.Context, m message.Message) error {
		_, err := poster.Post(ctx, cfg.Slack.Channel, "", m)
		return err
	}
	policy := handlers.NewMaintainers(cfg.Slack.Maintainers, func(ctx context.Context, group string) ([]string, error) {
		return tr.Client().GetUserGroupMembersContext(ctx, group)
	}, 5*time.Minute, opts.Clock)
	exec.Register(plan.KindAnnounce, handlers.Announcer{Poster: poster, Channel: cfg.Slack.Channel}.Announce)

	// The engine reports every change to the handler, which acts through the engine:
	// the engine's observer is the server (made first), which hands each event on to
	// the handler made below. Nothing is emitted before New has returned.
	s.Engine = engine.New(engine.Options{
		Store: st, Executor: exec, Policy: policy,
		Build:             func(o, d string) (plan.Plan, error) { return plan.Build(cfg, o, d) },
		ApprovalsRequired: cfg.Slack.ApprovalsRequired, ApprovalTimeout: cfg.Slack.ApprovalTimeout.Duration,
		ReminderEvery: cfg.Slack.ReminderEvery.Duration, Clock: opts.Clock, Logger: opts.Logger,
		Observer:       s.observe,
		OnEnd:          s.clusterSteps.EndRun,
		OnStoreFailure: s.storeFailed,
	})
	s.Scheduler = schedule.New(st,
		handlers.ScheduleHooks(cfg, poster, s.Engine, opts.Logger, func(o, d string) error { return plan.CheckPair(cfg, o, d) }),
		opts.Clock, opts.Logger)
	s.Handler = handlers.New(handlers.Options{Config: cfg, Engine: s.Engine, Store: st, Scheduler: s.Scheduler,
		Poster: poster, Policy: policy, Clock: opts.Clock, Logger: opts.Logger,
		WorkspaceURL: tr.WorkspaceURL,
		OnRefusal:    func(code string) { s.Metrics.Refusals.WithLabelValues(code).Inc() },
		Version:      buildinfo.Read().Short()})
	s.deploys = &deployWatch{gh: gh, repo: cfg.GitHub.App.Repo, file: cfg.GitHub.App.DeployWorkflow, every: cfg.GitHub.RunPollEvery.Duration,
		engine: s.Engine, handler: s.Handler, logger: opts.Logger}
	return s, nil
}

// observe is the engine's observer: each event goes to the metrics and the handler.
func (s *Server) observe(ctx context.Context, ev engine.Event) {
	s.Metrics.Observe(ev)
	s.Handler.Observe(ctx, ev)
}

// Addr is where the health endpoints listen, once Run has started.
func (s *Server) Addr() string {
	if s.listener == nil {
		return ""
	}
	return s.listener.Addr().String()
}

// Store returns the store (for history and tests).
func (s *Server) Store() engine.Store { return s.store }

// Run serves until ctx ends, then drains the step in flight and closes the store.
// With state.backend kubernetes it first waits to be elected leader (serving health
// endpoints meanwhile as a standby); a leader that loses its lease stops its step and
// returns an error, so that the process restarts as a standby.
func (s *Server) Run(parent context.Context) error {
	log := s.opts.Logger
	// A store that refuses the run's writes stops the bot: it exits non-zero, and on
	// the restart Recover settles the run from what is stored.
	ctx, stop := context.WithCancelCause(parent)
	defer stop(nil)
	s.stopForStore.Store(&stop)
	ln, err := net.Listen("tcp", s.cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("listen on http.listen %s: %w", s.cfg.HTTP.Listen, err)
	}
	s.listener = ln
	s.http = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("health endpoints stopped", "err", err)
		}
	}()
	// Every replica expires its own spool, leader or not.
	expireCtx, stopExpiry := context.WithCancel(ctx)
	expiryDone := make(chan struct{})
	go func() { defer close(expiryDone); s.expireLoop(expireCtx) }()
	defer func() { stopExpiry(); <-expiryDone }()
	if s.elector == nil {
		s.Metrics.Leader.Set(1)
		err = s.lead(ctx, func() bool { return false })
	} else {
		err = s.elector.run(ctx, s.Metrics, func(lctx context.Context) error {
			lost := func() bool { return ctx.Err() == nil && lctx.Err() != nil }
			err := s.lead(lctx, lost)
			if lost() {
				return errLostLease
			}
			return err
		})
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.http.Shutdown(shut)
	if cerr := s.store.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if cause := context.Cause(ctx); errors.Is(cause, errStoreFailed) {
		return cause
	}
	if errors.Is(err, context.Canceled) && parent.Err() != nil {
		return nil
	}
	return err
}

// errStoreFailed: a write of the run could not land in time.
var errStoreFailed = errors.New("the store refused the run's writes; stopping so that the restart settles the run")

// storeFailed is the engine's OnStoreFailure: it ends Run with errStoreFailed.
func (s *Server) storeFailed(err error) {
	s.opts.Logger.Error("stopping: the store refused the run's writes", "err", err)
	if stop := s.stopForStore.Load(); stop != nil {
		(*stop)(fmt.Errorf("%w: %v", errStoreFailed, err))
	}
}

// lead is the active bot: it recovers the run, ticks timers and serves Slack until
// ctx ends, then waits up to DrainTimeout for the step in flight. A lost lease leaves
// no time to drain (the next leader may start within seconds): the step is cancelled
// at once, and the next leader finds it interrupted.
func (s *Server) lead(ctx context.Context, lost func() bool) error {
	log := s.opts.Logger
	if err := s.Engine.Recover(ctx); err != nil {
		return err
	}
	ticker := cron.New(cron.WithLocation(time.UTC))
	if _, err := ticker.AddFunc(fmt.Sprintf("@every %s", s.opts.TickEvery), func() {
		if err := s.Engine.Tick(ctx); err != nil {
			log.Error("approval timers", "err", err)
		}
		s.Scheduler.Tick(ctx)
		s.deploys.tick(ctx, s.opts.Clock())
	}); err != nil {
		return err
	}
	// Expiring cluster tokens: looked at hourly, said in the channel at most once a day.
	warnTokens := func() {
		if err := s.warnExpiringTokens(ctx); err != nil {
			log.Error("token expiry warning", "err", err)
		}
	}
	if _, err := ticker.AddFunc("@every 1h", warnTokens); err != nil {
		return err
	}
	ticker.Start()
	warnTokens()
	s.ready.Store(true)
	err := s.transport.Run(ctx, adapter{s.Handler})
	s.ready.Store(false)
	<-ticker.Stop().Done()
	s.deploys.wait()
	drain := s.opts.DrainTimeout
	if lost() {
		drain = 0
	}
	dctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	_ = s.Engine.Close(dctx)
	return err
}

// adapter turns transport deliveries into handler calls.
type adapter struct{ h *handlers.Handler }

func (a adapter) HandleCommand(ctx context.Context, c transport.Command) {
	a.h.HandleCommand(ctx, handlers.Command{UserID: c.UserID, ChannelID: c.ChannelID, Text: c.Text, ResponseURL: c.ResponseURL})
}

func (a adapter) HandleAction(ctx context.Context, x transport.Action) {
	a.h.HandleClick(ctx, handlers.Click{UserID: x.UserID, ChannelID: x.ChannelID, MessageTS: x.MessageTS, ThreadTS: x.ThreadTS,
		ActionID: x.ActionID, Value: x.Value, ResponseURL: x.ResponseURL, TriggerID: x.TriggerID})
}

func (a adapter) HandleSubmission(ctx context.Context, x transport.Submission) {
	a.h.HandleSubmission(ctx, handlers.Submission{UserID: x.UserID, CallbackID: x.CallbackID, Metadata: x.Metadata, Values: x.Values})
}

func (a adapter) HandleHomeOpened(ctx context.Context, x transport.HomeOpened) {
	a.h.HandleHomeOpened(ctx, x.UserID)
}

func (a adapter) HandleUnreadable(ctx context.Context, x transport.Unreadable) {
	a.h.HandleUnreadableClick(ctx, handlers.Click{UserID: x.UserID, ChannelID: x.ChannelID, ThreadTS: x.ThreadTS, ResponseURL: x.ResponseURL})
}

// healthEvery bounds how often /healthz reads and writes the store: probes come every
// few seconds, and with the Kubernetes backend each is API calls.
const healthEvery = time.Minute

// storeWritable proves the store can be read and written, at most once per
// healthEvery (listing runs decodes every stored run with the Kubernetes backend);
// between checks the last result stands.
func (s *Server) storeWritable(ctx context.Context) error {
	s.healthMu.Lock()
	defer s.healthMu.Unlock()
	now := time.Now()
	if now.Sub(s.healthAt) < healthEvery {
		return s.healthErr
	}
	s.healthAt = now
	if _, s.healthErr = s.store.List(ctx, 1); s.healthErr == nil {
		s.healthErr = s.store.PutValue(ctx, "health/probe", now.UTC().Format(time.RFC3339))
	}
	return s.healthErr
}
