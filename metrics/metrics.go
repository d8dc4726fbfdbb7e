// Package metrics holds the bot's Prometheus metrics and the engine observer that
// feeds most of them.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/ops/steps"
)

// Metrics is one set of collectors, registered on one registry.
type Metrics struct {
	Registry      *prometheus.Registry
	Runs          *prometheus.CounterVec   // outcome
	StepDuration  *prometheus.HistogramVec // kind, result
	Decisions     *prometheus.CounterVec   // action
	Refusals      *prometheus.CounterVec   // reason
	AckLatency    prometheus.Histogram
	APIErrors     *prometheus.CounterVec // api (slack, github), method
	RateLimitWait *prometheus.CounterVec // api
	Bytes         *prometheus.CounterVec // direction (dumped, restored)
	Leader        prometheus.Gauge       // 1 while this replica leads (always 1 with the file store)
	SpoolBytes    prometheus.Gauge       // what this replica's spool holds (dumps, backups, snapshots)
	SpoolRuns     prometheus.Gauge       // how many runs have files in it
}

// New makes and registers the collectors (plus the Go and process collectors).
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cutoverbot_runs_total",
			Help: "Runs that ended, by outcome (completed, rolled_back, aborted, rejected)."}, []string{"outcome"}),
		StepDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "cutoverbot_step_duration_seconds",
			Help: "How long steps ran, by kind and result.", Buckets: []float64{0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600}}, []string{"kind", "result"}),
		Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cutoverbot_decisions_total",
			Help: "Maintainers' decisions, by action."}, []string{"action"}),
		Refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cutoverbot_refusals_total",
			Help: "Commands and clicks refused, by reason."}, []string{"reason"}),
		AckLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "cutoverbot_slack_ack_latency_seconds",
			Help: "Time from receiving a Socket Mode envelope to acknowledging it.", Buckets: []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 3}}),
		APIErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cutoverbot_api_errors_total",
			Help: "Errors from Slack and GitHub API calls."}, []string{"api", "method"}),
		RateLimitWait: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cutoverbot_rate_limit_wait_seconds_total",
			Help: "Time spent waiting on rate limits (429 Retry-After)."}, []string{"api"}),
		Bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cutoverbot_database_bytes_total",
			Help: "Bytes of database dumps streamed, by direction."}, []string{"direction"}),
		Leader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cutoverbot_leader",
			Help: "1 while this replica is the leader that serves Slack, 0 while it stands by."}),
		SpoolBytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cutoverbot_spool_bytes",
			Help: "Bytes of dumps, backups and snapshots in this replica's spool (members' personal data, removed state.retention after a run ends)."}),
		SpoolRuns: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cutoverbot_spool_runs",
			Help: "Runs with files in this replica's spool."}),
	}
	m.Registry.MustRegister(m.Runs, m.StepDuration, m.Decisions, m.Refusals, m.AckLatency, m.APIErrors, m.RateLimitWait, m.Bytes, m.Leader, m.SpoolBytes, m.SpoolRuns,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Observe records an engine event; chain it before the Slack observer.
func (m *Metrics) Observe(ev engine.Event) {
	switch ev.Kind {
	case engine.EventEnded:
		m.Runs.WithLabelValues(string(ev.Run.State)).Inc()
	case engine.EventSucceeded, engine.EventFailed, engine.EventInterrupted:
		s := ev.Run.Steps[ev.Step]
		m.StepDuration.WithLabelValues(string(s.Step.Kind), string(s.State)).Observe(s.Duration().Seconds())
		if ev.Kind == engine.EventSucceeded {
			m.countBytes(s)
		}
	case engine.EventDecided:
		if ev.Decision != nil {
			m.Decisions.WithLabelValues(string(ev.Decision.Action)).Inc()
		}
	}
}

// countBytes adds what a dump or restore step moved.
func (m *Metrics) countBytes(s engine.StepRun) {
	switch s.Step.Kind {
	case plan.KindDump:
		if r, err := engine.Decode[steps.DumpResult](s.Output); err == nil {
			m.Bytes.WithLabelValues("dumped").Add(float64(r.Spool.Size))
		}
	case plan.KindRestore:
		if r, err := engine.Decode[steps.RestoreResult](s.Output); err == nil {
			m.Bytes.WithLabelValues("restored").Add(float64(r.Restored.Size))
		}
	}
}
