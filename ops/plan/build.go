package plan

import (
	"fmt"
	"sort"
	"strings"

	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/pg"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// Build resolves the plan for moving from origin to dest: the configured `plan:` list
// when present, otherwise the default plan (DefaultSpecs).
func Build(cfg *config.Config, origin, dest string) (Plan, error) {
	if err := CheckPair(cfg, origin, dest); err != nil {
		return Plan{}, err
	}
	specs := cfg.Plan
	b := builder{cfg: cfg, origin: origin, dest: dest}
	if len(specs) == 0 {
		specs, b.defaults = DefaultSpecs(), true
	}
	p := Plan{Origin: origin, Destination: dest}
	ids := map[string]bool{}
	for i, spec := range specs {
		s, err := b.step(spec)
		if err != nil {
			return Plan{}, fmt.Errorf("plan step %d (%s): %w", i+1, spec.Kind, err)
		}
		if s.ID == "" {
			s.ID = fmt.Sprintf("%s-%d", s.Kind, i+1)
		}
		if ids[s.ID] {
			return Plan{}, fmt.Errorf("plan step %d: id %q is used twice", i+1, s.ID)
		}
		ids[s.ID] = true
		p.Steps = append(p.Steps, s)
	}
	if err := checkReferences(p); err != nil {
		return Plan{}, err
	}
	return p, nil
}

// CheckPair refuses an unknown cluster or a move from a cluster to itself.
func CheckPair(cfg *config.Config, origin, dest string) error {
	var known []string
	for name := range cfg.Clusters {
		known = append(known, name)
	}
	sort.Strings(known)
	for _, c := range []string{origin, dest} {
		if _, ok := cfg.Clusters[c]; !ok {
			return report.Fail(report.UnknownCluster{Cluster: c, Known: known}, nil)
		}
	}
	if origin == dest {
		return report.Fail(report.SameCluster{Cluster: origin}, nil)
	}
	return nil
}

func int32p(v int32) *int32 { return &v }
func boolp(v bool) *bool    { return &v }

// DefaultSpecs is the default plan: MeshDB's manual cutover runbook, step for step,
// written as configuration would be; their titles are worded by the transport
// (defaultTitles).
func DefaultSpecs() []config.StepSpec {
	return []config.StepSpec{
		{Kind: "preflight", ID: "preflight"},
		{Kind: "scale", ID: "scale-destination-celery", Cluster: "destination", Workload: StatefulSet, Replicas: int32p(0)},
		{Kind: "maintenance", ID: "maintenance-on-destination", Cluster: "destination", On: boolp(true)},
		{Kind: "announce", ID: "announce-start", Template: "start"},
		{Kind: "scale", ID: "scale-origin-celery", Cluster: "origin", Workload: StatefulSet, Replicas: int32p(0)},
		{Kind: "snapshot", ID: "snapshot-prior", Via: "public"},
		{Kind: "maintenance", ID: "maintenance-on-origin", Cluster: "origin", On: boolp(true)},
		{Kind: "dump", ID: "dump-origin", Cluster: "origin"},
		{Kind: "restore", ID: "restore-destination", Cluster: "destination"},
		{Kind: "verify", ID: "verify-database"},
		{Kind: "maintenance", ID: "maintenance-off-destination", Cluster: "destination", On: boolp(false)},
		{Kind: "snapshot", ID: "snapshot-post", Via: "lb", Cluster: "destination", DiffAgainst: "snapshot-prior"},
		{Kind: "pull-request", ID: "pr-dns", Change: "dns"},
		{Kind: "wait-dns", ID: "wait-dns"},
		{Kind: "pull-request", ID: "pr-certs", Change: "certs"},
		{Kind: "wait-tls", ID: "wait-tls"},
		{Kind: "scale", ID: "restore-destination-celery", Cluster: "destination", Workload: StatefulSet, RestoreFrom: "scale-destination-celery"},
		{Kind: "announce", ID: "announce-done", Template: "done"},
	}
}

type builder struct {
	cfg          *config.Config
	origin, dest string
	// defaults: the plan is the default one, whose titles are data (defaultTitles).
	defaults bool
}

func (b builder) cluster(role string) (string, config.Cluster) {
	name := b.origin
	if role == string(Destination) {
		name = b.dest
	}
	return name, b.cfg.Clusters[name]
}

func (b builder) db() pg.DB {
	return b.cfg.Database.PG()
}

func (b builder) step(spec config.StepSpec) (Step, error) {
	s := Step{ID: spec.ID, Kind: Kind(spec.Kind), Title: spec.Title}
	if spec.Cluster != "" {
		s.Role = Role(spec.Cluster)
		s.Cluster, _ = b.cluster(spec.Cluster)
	}
	need := func(role Role) {
		if s.Role == "" {
			s.Role = role
			s.Cluster, _ = b.cluster(string(role))
		}
	}
	_, destCfg := b.cluster(string(Destination))
	_, originCfg := b.cluster(string(Origin))
	switch s.Kind {
	case KindPreflight:
		s.AutoRun = true
		s.Preflight = &Preflight{}
	case KindScale:
		name := spec.Name
		if name == "" {
			_, c := b.cluster(string(s.Role))
			name = c.CeleryStatefulSet
			if spec.Workload == Deployment {
				name = c.Meshweb.Deployment
			}
		}
		s.Scale = &Scale{Workload: spec.Workload, Name: name, Replicas: spec.Replicas, RestoreFrom: spec.RestoreFrom}
	case KindMaintenance:
		if spec.On == nil {
			return s, fmt.Errorf("maintenance needs on: true or false")
		}
		s.Maintenance = &Maintenance{On: *spec.On}
	case KindExec:
		s.Exec = &Exec{Target: spec.Target, Argv: append([]string(nil), spec.Argv...)}
	case KindAnnounce:
		text := b.cfg.Announcements.Start
		if spec.Template == "done" {
			text = b.cfg.Announcements.Done
		}
		s.Announce = &Announce{Template: spec.Template, Text: text}
	case KindSnapshot:
		s.Snapshot = &Snapshot{Via: spec.Via, Paths: b.cfg.Service.SnapshotPaths, URL: b.cfg.Service.URL, DiffAgainst: spec.DiffAgainst}
		if spec.Via == "lb" {
			need(Destination)
			_, c := b.cluster(string(s.Role))
			s.Snapshot.LBAddress = c.LBAddress
		}
	case KindDump:
		need(Origin)
		s.Dump = &Dump{Argv: pg.DumpArgv(b.db())}
	case KindRestore:
		need(Destination)
		from := spec.RestoreFrom
		if from == "" {
			from = "dump-origin"
		}
		s.Restore = &Restore{From: from, BackupArgv: pg.DumpArgv(b.db()), Argv: pg.RestoreArgv(b.db(), RemoteDumpPath("<run>"), b.cfg.Database.RestoreJobs.N), Jobs: b.cfg.Database.RestoreJobs.N}
	case KindVerify:
		s.Verify = &Verify{Exclude: b.cfg.Database.ExcludeTables}
	case KindPullRequest:
		pr := &PullRequest{Change: spec.Change}
		switch spec.Change {
		case "dns":
			g := b.cfg.GitHub.DNS
			pr.Repo, pr.Base, pr.Files, pr.Merge = g.Repo, g.Branch, []string{g.File}, g.Merge
			pr.Workflow = g.Workflow
			pr.From, pr.To = originCfg.LBHostname, destCfg.LBHostname
		case "certs":
			g := b.cfg.GitHub.Certs
			pr.Repo, pr.Base, pr.Files, pr.Merge = g.Repo, g.Branch, []string{destCfg.TFVars, originCfg.TFVars}, g.Merge
			pr.Workflow = g.Workflow
			pr.From, pr.To = b.origin, b.dest
		default:
			return s, fmt.Errorf("pull-request change %q is not one of dns, certs", spec.Change)
		}
		s.PullRequest = pr
	case KindWaitDNS:
		s.WaitDNS = &WaitDNS{Name: b.cfg.DNS.Name, Want: destCfg.LBHostname, Resolvers: b.cfg.DNS.Resolvers}
	case KindWaitTLS:
		s.WaitTLS = &WaitTLS{Address: destCfg.LBAddress, ServerName: serviceHost(b.cfg.Service.URL)}
	default:
		return s, fmt.Errorf("unknown step kind %q", spec.Kind)
	}
	// A title a person wrote stays theirs, as text; others are data the transport words.
	if s.Title == "" {
		if kind, ok := defaultTitles[s.ID]; ok && b.defaults {
			s.TitleFacts = titleOf(kind, s)
		} else {
			s.TitleFacts = genericTitle(s)
		}
	}
	return s, nil
}

// RemoteDumpPath is where a dump is copied inside the destination postgres pod.
func RemoteDumpPath(runID string) string { return "/tmp/cutoverbot-" + runID + ".dump" }

func serviceHost(u string) string {
	h := strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://")
	h, _, _ = strings.Cut(h, "/")
	if i := strings.LastIndex(h, ":"); i >= 0 {
		h = h[:i]
	}
	return h
}

// checkReferences makes sure every step that reads another step's output names one
// that runs before it, so a plan cannot fail late for a typo.
func checkReferences(p Plan) error {
	before := map[string]Kind{}
	for i, s := range p.Steps {
		ref := func(id string, want Kind, what string) error {
			k, ok := before[id]
			if !ok {
				return fmt.Errorf("plan step %d (%s): %s %q is not an earlier step", i+1, s.ID, what, id)
			}
			if k != want {
				return fmt.Errorf("plan step %d (%s): %s %q is a %s step, not %s", i+1, s.ID, what, id, k, want)
			}
			return nil
		}
		var err error
		switch {
		case s.Scale != nil && s.Scale.RestoreFrom != "":
			err = ref(s.Scale.RestoreFrom, KindScale, "restore_from")
		case s.Restore != nil && s.Restore.From != "":
			err = ref(s.Restore.From, KindDump, "restore_from")
		case s.Snapshot != nil && s.Snapshot.DiffAgainst != "":
			err = ref(s.Snapshot.DiffAgainst, KindSnapshot, "diff_against")
		}
		if err != nil {
			return err
		}
		before[s.ID] = s.Kind
	}
	return nil
}
