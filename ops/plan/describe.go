package plan

import (
	"strings"

	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/pg"
)

// Command is one command a step runs in a pod, named exactly as it will run; the
// transport words where its input and output go and why it runs (handlers' plan.tmpl).
type Command struct {
	Cluster   string   `json:"cluster"`
	Namespace string   `json:"namespace"`
	Selector  string   `json:"selector"`
	Container string   `json:"container"`
	Argv      []string `json:"argv"`
	// Stdin is the file streamed in; FromDump: the dump's bytes, as they come.
	Stdin    string `json:"stdin,omitempty"`
	FromDump bool   `json:"from_dump,omitempty"`
	// Stdout is the file the output goes to; Checked: checked as a dump is (sha256,
	// size, PGDMP magic, fsync).
	Stdout  string `json:"stdout,omitempty"`
	Checked bool   `json:"checked,omitempty"`
	// Note says when or why it runs, as a code (MaxJobs goes with NoteRestoreAutoJobs).
	Note    CommandNote `json:"note,omitempty"`
	MaxJobs int         `json:"max_jobs,omitempty"`
	// SQL names the SQL text psql runs (Argv's last argument, left empty here) when
	// the step composes it as it runs, from what it finds; the transport words what
	// it reads in its place.
	SQL SQLStandIn `json:"sql,omitempty"`
}

// SQLStandIn names SQL a step composes as it runs, which a plan shows by what it reads.
type SQLStandIn string

const (
	SQLFingerprint SQLStandIn = "fingerprint" // per-table count(*) and md5 of rows in key order
	SQLState       SQLStandIn = "state"       // transaction horizon, open writes, row counters, sequences
)

// SQLStandIns lists every stand-in, for the transport's tests (each has words).
func SQLStandIns() []SQLStandIn { return []SQLStandIn{SQLFingerprint, SQLState} }

// CommandNote says when or why a command runs.
type CommandNote string

const (
	NoteSQLFallback     CommandNote = "sql_fallback"      // only when meshweb cannot set the flag
	NoteReadsBack       CommandNote = "reads_back"        // reads the state back
	NoteRemoveCopies    CommandNote = "remove_copies"     // where the dump step copied, and today's pod
	NoteStageTemp       CommandNote = "stage_temp"        // a temporary file the restore checks and removes
	NoteAroundBackup    CommandNote = "around_backup"     // before and after the backup
	NoteEarlyBackup     CommandNote = "early_backup"      // the destination's backup during the dump
	NoteRestoreBackup   CommandNote = "restore_backup"    // the destination's backup before the restore
	NoteFreshBackup     CommandNote = "fresh_backup"      // a backup of the current state, kept in case
	NoteUnlessStaged    CommandNote = "unless_staged"     // skipped when the dump step's copy is there
	NoteSumMatches      CommandNote = "sum_matches"       // must equal the local sha256
	NoteRestoreOutput   CommandNote = "restore_output"    // its output is read
	NoteRestoreAutoJobs CommandNote = "restore_auto_jobs" // and -j N is the pod's cores, at most MaxJobs
)

// CommandNotes lists every note, for the transport's tests (each has words).
func CommandNotes() []CommandNote {
	return []CommandNote{NoteSQLFallback, NoteReadsBack, NoteRemoveCopies, NoteStageTemp, NoteAroundBackup, NoteEarlyBackup,
		NoteRestoreBackup, NoteFreshBackup, NoteUnlessStaged, NoteSumMatches, NoteRestoreOutput, NoteRestoreAutoJobs}
}

// ShellQuote renders argv so that a person could paste it into a shell.
func ShellQuote(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,@<>", r))
		}) < 0 {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}

// Commands lists the pod commands a step runs, in order, for cluster config cfg.
func Commands(cfg *config.Config, p Plan, s Step) []Command {
	db := cfg.Database.PG()
	in := func(cluster, target string, argv []string) Command {
		c := cfg.Clusters[cluster]
		cmd := Command{Cluster: cluster, Namespace: c.Namespace, Argv: argv}
		if target == "meshweb" {
			cmd.Selector, cmd.Container = c.Meshweb.Selector, c.Meshweb.Container
		} else {
			cmd.Selector, cmd.Container = c.Postgres.Selector, c.Postgres.Container
		}
		return cmd
	}
	// composed is psql running SQL the step composes as it runs.
	composed := func(cluster string, sql SQLStandIn) Command {
		c := in(cluster, "postgres", pg.PsqlArgv(db, ""))
		c.SQL = sql
		return c
	}
	switch s.Kind {
	case KindMaintenance:
		verb := "disable_flag"
		if s.Maintenance.On {
			verb = "enable_flag"
		}
		manage := append(append([]string(nil), cfg.Clusters[s.Cluster].Meshweb.Manage...), verb, "MAINTENANCE_MODE")
		fallback := in(s.Cluster, "postgres", pg.PsqlArgv(db, pg.MaintenanceSetSQL(s.Maintenance.On)))
		fallback.Note = NoteSQLFallback
		check := in(s.Cluster, "postgres", pg.PsqlArgv(db, pg.MaintenanceQuerySQL()))
		check.Note = NoteReadsBack
		return []Command{in(s.Cluster, "meshweb", manage), fallback, check}
	case KindExec:
		return []Command{in(s.Cluster, s.Exec.Target, s.Exec.Argv)}
	case KindDump:
		if s.Undoes != "" {
			rm := in(s.Cluster, "postgres", []string{"rm", "-f", RemoteDumpPath("<run>")})
			rm.Note = NoteRemoveCopies
			return []Command{rm}
		}
		c := in(s.Cluster, "postgres", s.Dump.Argv)
		c.Stdout, c.Checked = "spool/<run>/"+s.ID+".dump", true
		rs := p.RestoreOf(s.ID)
		if rs == nil {
			return []Command{c}
		}
		// Meanwhile, on the destination: a copy into a temporary file and a read-only
		// backup between two reads of its state; the restore step uses them only if
		// the state has not moved and the copy's sha256 checks out.
		remote := RemoteDumpPath("<run>")
		copyIn := in(rs.Cluster, "postgres", pg.StageArgv(remote))
		copyIn.FromDump = true
		copyIn.Note = NoteStageTemp
		state := composed(rs.Cluster, SQLState)
		state.Note = NoteAroundBackup
		backup := in(rs.Cluster, "postgres", rs.Restore.BackupArgv)
		backup.Stdout = "spool/<run>/" + rs.ID + "-backup-early.dump"
		backup.Note = NoteEarlyBackup
		return []Command{c, copyIn, state, backup, state}
	case KindRestore:
		remote := RemoteDumpPath("<run>")
		backup := in(s.Cluster, "postgres", s.Restore.BackupArgv)
		backup.Stdout = "spool/<run>/" + s.ID + "-backup.dump"
		backup.Note = NoteRestoreBackup
		copyIn := in(s.Cluster, "postgres", []string{"sh", "-c", "cat > '" + remote + "'"})
		copyIn.Stdin = "spool/<run>/" + s.Restore.From + ".dump"
		copyIn.Note = NoteUnlessStaged
		if s.Restore.FromBackup != "" {
			copyIn.Stdin = "spool/<run>/" + s.Restore.FromBackup + "-backup.dump"
			backup.Note = NoteFreshBackup
			copyIn.Note = ""
		}
		sum := in(s.Cluster, "postgres", []string{"sha256sum", remote})
		sum.Note = NoteSumMatches
		restore := in(s.Cluster, "postgres", s.Restore.Argv)
		restore.Note = NoteRestoreOutput
		if s.Restore.Jobs == 0 {
			restore.Note, restore.MaxJobs = NoteRestoreAutoJobs, pg.MaxAutoJobs
		}
		cleanup := in(s.Cluster, "postgres", []string{"rm", "-f", remote})
		return []Command{backup, copyIn, sum, restore, cleanup}
	case KindVerify:
		return []Command{
			composed(p.Origin, SQLFingerprint),
			composed(p.Destination, SQLFingerprint),
		}
	}
	return nil
}

// FactKind names one kind of fact of what a step does.
type FactKind string

const (
	FactPreflightChecks   FactKind = "preflight_checks"   // Origin, Destination
	FactPreflightDeployed FactKind = "preflight_deployed" // Destination, Repo, Branch, Workflow
	FactPreflightDNS      FactKind = "preflight_dns"      // Name, LB
	FactPreflightOverride FactKind = "preflight_override" // Approvals
	FactPreflightCerts    FactKind = "preflight_certs"    // Workflow, Repo, Environment
	FactScale             FactKind = "scale"              // Workload, Name, Cluster, Namespace, Replicas, or RestoreFrom: the step whose recorded count it restores
	FactAnnounce          FactKind = "announce"           // Channel, Text
	FactSnapshot          FactKind = "snapshot"           // Paths, URL, LB (Cluster, Address, Host: through a load balancer), ReadyTimeout, PollEvery
	FactSnapshotDiff      FactKind = "snapshot_diff"      // Against
	FactVerify            FactKind = "verify"             // -
	FactVerifyExclude     FactKind = "verify_exclude"     // Tables
	FactPRDNS             FactKind = "pr_dns"             // Repo, File, Resource, From, To
	FactPRCerts           FactKind = "pr_certs"           // Repo, Host, List, AddTo, RemoveFrom, Placeholder
	FactPRRevert          FactKind = "pr_revert"          // Of
	FactPRMerge           FactKind = "pr_merge"           // Auto
	FactPRWorkflow        FactKind = "pr_workflow"        // Workflow, Repo, Appear, Timeout
	FactPRCertsChecked    FactKind = "pr_certs_checked"   // Workflow, Environment, Base
	FactWaitDNS           FactKind = "wait_dns"           // Resolvers, Want, Name
	FactWaitTLS           FactKind = "wait_tls"           // Address, ServerName
)

// FactKinds lists every kind, for the transport's tests (each must have words).
func FactKinds() []FactKind {
	return []FactKind{FactPreflightChecks, FactPreflightDeployed, FactPreflightDNS, FactPreflightOverride, FactPreflightCerts,
		FactScale, FactAnnounce, FactSnapshot, FactSnapshotDiff, FactVerify, FactVerifyExclude, FactPRDNS, FactPRCerts,
		FactPRRevert, FactPRMerge, FactPRWorkflow, FactPRCertsChecked, FactWaitDNS, FactWaitTLS}
}

// Fact is one fact of what a step does and where, as data: the transport words it
// (handlers' templates), in Slack and in the terminal alike.
type Fact struct {
	Kind FactKind
	F    map[string]any
}

// Facts lists what a step does and where, in the order people read it; the pod
// commands it runs follow them (Commands).
func Facts(cfg *config.Config, p Plan, s Step) []Fact {
	var out []Fact
	add := func(kind FactKind, f map[string]any) { out = append(out, Fact{Kind: kind, F: f}) }
	switch s.Kind {
	case KindPreflight:
		app := cfg.GitHub.App
		add(FactPreflightChecks, map[string]any{"Origin": p.Origin, "Destination": p.Destination})
		add(FactPreflightDeployed, map[string]any{"Destination": p.Destination, "Repo": app.Repo, "Branch": app.Branch, "Workflow": app.DeployWorkflow})
		add(FactPreflightDNS, map[string]any{"Name": cfg.DNS.Name, "LB": cfg.Clusters[p.Origin].LBHostname})
		add(FactPreflightOverride, map[string]any{"Approvals": max(1, cfg.Slack.ApprovalsRequired)})
		if w := cfg.GitHub.Certs.Workflow; w != "" {
			add(FactPreflightCerts, map[string]any{"Workflow": w, "Repo": cfg.GitHub.Certs.Repo, "Environment": cfg.Clusters[p.Destination].CertsEnvironment})
		}
	case KindScale:
		f := map[string]any{"Workload": s.Scale.Workload, "Name": s.Scale.Name, "Cluster": s.Cluster,
			"Namespace": cfg.Clusters[s.Cluster].Namespace, "Replicas": int32(0), "RestoreFrom": s.Scale.RestoreFrom}
		if s.Scale.Replicas != nil {
			f["Replicas"], f["RestoreFrom"] = *s.Scale.Replicas, ""
		}
		add(FactScale, f)
	case KindAnnounce:
		add(FactAnnounce, map[string]any{"Channel": cfg.Slack.Channel, "Text": s.Announce.Text})
	case KindSnapshot:
		f := map[string]any{"Paths": s.Snapshot.Paths, "URL": s.Snapshot.URL, "LB": nil,
			"ReadyTimeout": cfg.Service.ReadyTimeout.Duration, "PollEvery": cfg.Service.ReadyPollEvery.Duration}
		if s.Snapshot.Via == "lb" {
			f["LB"] = map[string]any{"Cluster": s.Cluster, "Address": s.Snapshot.LBAddress, "Host": serviceHost(s.Snapshot.URL)}
		}
		add(FactSnapshot, f)
		if s.Snapshot.DiffAgainst != "" {
			add(FactSnapshotDiff, map[string]any{"Against": s.Snapshot.DiffAgainst})
		}
	case KindVerify:
		add(FactVerify, nil)
		if len(s.Verify.Exclude) > 0 {
			add(FactVerifyExclude, map[string]any{"Tables": s.Verify.Exclude})
		}
	case KindPullRequest:
		pr := s.PullRequest
		switch pr.Change {
		case "dns":
			add(FactPRDNS, map[string]any{"Repo": pr.Repo, "File": pr.Files[0], "Resource": cfg.GitHub.DNS.Resource, "From": pr.From, "To": pr.To})
		case "certs":
			add(FactPRCerts, map[string]any{"Repo": pr.Repo, "Host": serviceHost(cfg.Service.URL), "List": cfg.GitHub.Certs.ListVariable,
				"AddTo": pr.Files[0], "RemoveFrom": pr.Files[1], "Placeholder": cfg.GitHub.Certs.Placeholder})
		}
		if pr.RevertOf != "" {
			add(FactPRRevert, map[string]any{"Of": pr.RevertOf})
		}
		add(FactPRMerge, map[string]any{"Auto": pr.Merge == "auto"})
		if pr.Workflow != "" {
			g := cfg.GitHub
			add(FactPRWorkflow, map[string]any{"Workflow": pr.Workflow, "Repo": pr.Repo, "Appear": g.RunAppearTimeout.Duration, "Timeout": g.RunTimeout.Duration})
			if pr.Change == "certs" && pr.RevertOf == "" {
				add(FactPRCertsChecked, map[string]any{"Workflow": pr.Workflow, "Environment": cfg.Clusters[p.Destination].CertsEnvironment, "Base": pr.Base})
			}
		}
	case KindWaitDNS:
		add(FactWaitDNS, map[string]any{"Resolvers": s.WaitDNS.Resolvers, "Want": s.WaitDNS.Want, "Name": s.WaitDNS.Name})
	case KindWaitTLS:
		add(FactWaitTLS, map[string]any{"Address": s.WaitTLS.Address, "ServerName": s.WaitTLS.ServerName})
	}
	return out
}
