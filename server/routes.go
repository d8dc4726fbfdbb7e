package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nycmeshnet/cutoverbot/buildinfo"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/steps"
)

// The read-only history API on the health port. The bbolt file is locked by the
// running bot, and the image has no shell, so `cutoverbot history --server URL`
// reads runs and their audit log here instead. It serves what `/cutover history`
// shows in the channel: no token or configuration. The port is cluster-internal
// (no Ingress; the chart's Service, when enabled, is ClusterIP).
const (
	pathRuns     = "/api/v1/runs"
	maxRunsLimit = 500
)

// RunsPage is the answer of GET /api/v1/runs?limit=N: the newest runs first.
type RunsPage struct {
	Runs []*engine.Run `json:"runs"`
	// Spool is what this replica's spool holds, run by run (members' personal data,
	// removed state.retention after each run ends).
	Spool []steps.SpoolRun `json:"spool"`
}

// RunPage is the answer of GET /api/v1/runs/{id}: one run and its audit log, oldest first.
type RunPage struct {
	Run   *engine.Run         `json:"run"`
	Audit []engine.AuditEntry `json:"audit"`
}

// apiError is the body of every refusal of the history API.
type apiError struct {
	Error string `json:"error"`
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		// The check is shared by every probe and its answer kept a while: a prober that
		// stops waiting (a kubelet's timeout is a second) must not cut it short.
		if err := s.storeWritable(context.WithoutCancel(r.Context())); err != nil {
			http.Error(w, "store: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if s.elector != nil && !s.elector.leading() {
			// A standby holds no Slack connection by design (Slack would split events
			// between connections); it is ready to take over.
			fmt.Fprintf(w, "ready: standby, %s leads\n", s.elector.holder())
			return
		}
		if !s.ready.Load() || !s.transport.Connected() {
			http.Error(w, "not connected to Slack", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("/metrics", promhttp.HandlerFor(s.Metrics.Registry, promhttp.HandlerOpts{}))
	history(mux, s.store, func() ([]steps.SpoolRun, error) { return steps.SpoolUsage(s.cfg.State.Dir) })
	return mux
}

// history adds the read-only runs API to mux. Only GET is routed: the mux answers
// any other method with 405.
func history(mux *http.ServeMux, st engine.Store, spool func() ([]steps.SpoolRun, error)) {
	mux.HandleFunc("GET "+pathRuns, func(w http.ResponseWriter, r *http.Request) {
		limit := 20
		if v := r.URL.Query().Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxRunsLimit {
				writeJSON(w, http.StatusBadRequest, apiError{fmt.Sprintf("limit must be a number from 1 to %d, not %q", maxRunsLimit, v)})
				return
			}
			limit = n
		}
		runs, err := st.List(r.Context(), limit)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, apiError{"the store could not list runs: " + err.Error()})
			return
		}
		if runs == nil {
			runs = []*engine.Run{}
		}
		usage, err := spool()
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, apiError{"the spool could not be read: " + err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, RunsPage{Runs: runs, Spool: usage})
	})
	mux.HandleFunc("GET "+pathRuns+"/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		run, err := st.Get(r.Context(), id)
		if errors.Is(err, engine.ErrNotFound) {
			writeJSON(w, http.StatusNotFound, apiError{fmt.Sprintf("no run %q", id)})
			return
		}
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, apiError{"the store could not read run " + id + ": " + err.Error()})
			return
		}
		audit, err := st.Audit(r.Context(), id)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, apiError{"the store could not read the audit log of run " + id + ": " + err.Error()})
			return
		}
		if audit == nil {
			audit = []engine.AuditEntry{}
		}
		writeJSON(w, http.StatusOK, RunPage{Run: run, Audit: audit})
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// registerBuildInfo adds cutoverbot_build_info, the usual constant 1 whose labels say
// which build runs.
func registerBuildInfo(reg prometheus.Registerer, info buildinfo.Info) {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cutoverbot_build_info",
		Help: "Which build of cutoverbot runs: always 1, the build in the labels."},
		[]string{"version", "commit", "date", "goversion"})
	g.WithLabelValues(info.Version, info.Commit, info.Date, info.GoVersion).Set(1)
	reg.MustRegister(g)
}
