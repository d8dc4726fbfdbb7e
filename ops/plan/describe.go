package plan

import (
	"fmt"
	"strings"

	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/pg"
)

// Command is one command a step runs in a pod, named exactly as it will run.
type Command struct {
	Cluster   string   `json:"cluster"`
	Namespace string   `json:"namespace"`
	Selector  string   `json:"selector"`
	Container string   `json:"container"`
	Argv      []string `json:"argv"`
	Stdin     string   `json:"stdin,omitempty"`  // what is streamed in
	Stdout    string   `json:"stdout,omitempty"` // where the output goes
	Note      string   `json:"note,omitempty"`
}

func (c Command) String() string {
	s := fmt.Sprintf("%s/%s pod %s container %s: %s", c.Cluster, c.Namespace, c.Selector, c.Container, ShellQuote(c.Argv))
	if c.Stdin != "" {
		s += " < " + c.Stdin
	}
	if c.Stdout != "" {
		s += " > " + c.Stdout
	}
	if c.Note != "" {
		s += "  (" + c.Note + ")"
	}
	return s
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

const (
	fingerprintNote = "<per-table count(*) and md5 of rows in key order>"
	stateNote       = "<transaction horizon, open writes, row counters, sequences>"
)

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
	switch s.Kind {
	case KindMaintenance:
		verb := "disable_flag"
		if s.Maintenance.On {
			verb = "enable_flag"
		}
		manage := append(append([]string(nil), cfg.Clusters[s.Cluster].Meshweb.Manage...), verb, "MAINTENANCE_MODE")
		fallback := in(s.Cluster, "postgres", pg.PsqlArgv(db, pg.MaintenanceSetSQL(s.Maintenance.On)))
		fallback.Note = "only when no meshweb pod is ready or the command fails"
		check := in(s.Cluster, "postgres", pg.PsqlArgv(db, pg.MaintenanceQuerySQL()))
		check.Note = "reads the state back"
		return []Command{in(s.Cluster, "meshweb", manage), fallback, check}
	case KindExec:
		return []Command{in(s.Cluster, s.Exec.Target, s.Exec.Argv)}
	case KindDump:
		if s.Undoes != "" {
			rm := in(s.Cluster, "postgres", []string{"rm", "-f", RemoteDumpPath("<run>")})
			rm.Note = "in the pod the dump step copied into, and in today's postgres pod"
			return []Command{rm}
		}
		c := in(s.Cluster, "postgres", s.Dump.Argv)
		c.Stdout = "spool/<run>/" + s.ID + ".dump (sha256, size, PGDMP magic, fsync)"
		rs := p.RestoreOf(s.ID)
		if rs == nil {
			return []Command{c}
		}
		// Meanwhile, on the destination: a copy into a temporary file and a read-only
		// backup between two reads of its state; the restore step uses them only if
		// the state has not moved and the copy's sha256 checks out.
		remote := RemoteDumpPath("<run>")
		copyIn := in(rs.Cluster, "postgres", pg.StageArgv(remote))
		copyIn.Stdin = "the dump's bytes as they come"
		copyIn.Note = "a temporary file, never the database; the restore step checks and removes it"
		state := in(rs.Cluster, "postgres", pg.PsqlArgv(db, stateNote))
		state.Note = "before and after the backup"
		backup := in(rs.Cluster, "postgres", rs.Restore.BackupArgv)
		backup.Stdout = "spool/<run>/" + rs.ID + "-backup-early.dump"
		backup.Note = "read-only backup of the destination, kept for undo while it has not changed"
		return []Command{c, copyIn, state, backup, state}
	case KindRestore:
		remote := RemoteDumpPath("<run>")
		backup := in(s.Cluster, "postgres", s.Restore.BackupArgv)
		backup.Stdout = "spool/<run>/" + s.ID + "-backup.dump"
		backup.Note = "backup of the destination, kept for undo; not taken again while the dump step's one holds"
		copyIn := in(s.Cluster, "postgres", []string{"sh", "-c", "cat > '" + remote + "'"})
		copyIn.Stdin = "spool/<run>/" + s.Restore.From + ".dump"
		copyIn.Note = "unless the dump step's copy is in this pod"
		if s.Restore.FromBackup != "" {
			copyIn.Stdin = "spool/<run>/" + s.Restore.FromBackup + "-backup.dump"
			backup.Note = "a fresh backup of the current state, kept in case"
			copyIn.Note = ""
		}
		sum := in(s.Cluster, "postgres", []string{"sha256sum", remote})
		sum.Note = "must equal the local sha256"
		restore := in(s.Cluster, "postgres", s.Restore.Argv)
		restore.Note = "output is read: errors ignored on restore are reported"
		if s.Restore.Jobs == 0 {
			restore.Note = fmt.Sprintf("with -j N, N the pod's cores (its CPU limit, else nproc), at most %d; ", pg.MaxAutoJobs) + restore.Note
		}
		cleanup := in(s.Cluster, "postgres", []string{"rm", "-f", remote})
		return []Command{backup, copyIn, sum, restore, cleanup}
	case KindVerify:
		return []Command{
			in(p.Origin, "postgres", pg.PsqlArgv(db, fingerprintNote)),
			in(p.Destination, "postgres", pg.PsqlArgv(db, fingerprintNote)),
		}
	}
	return nil
}

// Describe says in words what a step does and where, one line per fact.
func Describe(cfg *config.Config, p Plan, s Step) []string {
	var out []string
	switch s.Kind {
	case KindPreflight:
		out = append(out,
			fmt.Sprintf("read-only checks: %s and %s reachable; meshweb and postgres pods found and ready; celery StatefulSet present", p.Origin, p.Destination),
			fmt.Sprintf("%s deployed at the head of %s@%s, no %s run in progress", p.Destination, cfg.GitHub.App.Repo, cfg.GitHub.App.Branch, cfg.GitHub.App.DeployWorkflow),
			fmt.Sprintf("%s points at %s (the origin); no other run active; meshweb image digests compared (a difference only warns)", cfg.DNS.Name, cfg.Clusters[p.Origin].LBHostname),
			fmt.Sprintf("each failed check can be overridden on its own, with a reason, by %d maintainer(s) other than the initiator", max(1, cfg.Slack.ApprovalsRequired)))
		if w := cfg.GitHub.Certs.Workflow; w != "" {
			out = append(out, fmt.Sprintf("the merges' workflows run on a push to their branch, and %s in %s deploys to environment %s",
				w, cfg.GitHub.Certs.Repo, cfg.Clusters[p.Destination].CertsEnvironment))
		}
	case KindScale:
		target := "the count recorded by step " + s.Scale.RestoreFrom
		if s.Scale.Replicas != nil {
			target = fmt.Sprint(*s.Scale.Replicas)
		}
		out = append(out, fmt.Sprintf("scale %s %s in %s/%s to %s (scale subresource; the previous count is recorded); wait for status.replicas",
			s.Scale.Workload, s.Scale.Name, s.Cluster, cfg.Clusters[s.Cluster].Namespace, target))
	case KindAnnounce:
		out = append(out, fmt.Sprintf("post top-level in %s: %q", cfg.Slack.Channel, s.Announce.Text))
	case KindSnapshot:
		where := s.Snapshot.URL + " (public)"
		if s.Snapshot.Via == "lb" {
			where = fmt.Sprintf("%s LB %s with Host/SNI %s, certificate not verified for this request", s.Cluster, s.Snapshot.LBAddress, serviceHost(s.Snapshot.URL))
		}
		out = append(out, fmt.Sprintf("GET %s via %s, after waiting up to %s for meshweb to answer 200 there, asking every %s (the LB answers 502/503 while pods restarted by maintenance mode come back)",
			strings.Join(s.Snapshot.Paths, ", "), where, cfg.Service.ReadyTimeout.Duration, cfg.Service.ReadyPollEvery.Duration))
		if s.Snapshot.DiffAgainst != "" {
			out = append(out, fmt.Sprintf("diff by key against %s; a non-empty diff blocks unless approved with a reason", s.Snapshot.DiffAgainst))
		}
	case KindVerify:
		out = append(out, "per-table count(*) and md5 of rows in primary-key order on both sides must be equal")
		if len(s.Verify.Exclude) > 0 {
			out = append(out, "excluded tables: "+strings.Join(s.Verify.Exclude, ", "))
		}
	case KindPullRequest:
		pr := s.PullRequest
		switch pr.Change {
		case "dns":
			out = append(out, fmt.Sprintf("%s %s: in resource %s, answer = %q -> %q", pr.Repo, pr.Files[0], cfg.GitHub.DNS.Resource, pr.From, pr.To))
		case "certs":
			host := serviceHost(cfg.Service.URL)
			out = append(out, fmt.Sprintf("%s: add %q to %s in %s, remove it from %s (placeholder %s keeps a list non-empty)",
				pr.Repo, host, cfg.GitHub.Certs.ListVariable, pr.Files[0], pr.Files[1], cfg.GitHub.Certs.Placeholder))
		}
		if pr.RevertOf != "" {
			out = append(out, "a revert pull request of the change made by "+pr.RevertOf)
		}
		if pr.Merge == "auto" {
			out = append(out, "merged through the API after approval; waits for a human merge if branch protection refuses")
		} else {
			out = append(out, "waits for a human merge")
		}
		if pr.Workflow != "" {
			g := cfg.GitHub
			out = append(out, fmt.Sprintf("then waits for the run of workflow %s that the merge commit starts (https://github.com/%s/actions/workflows/%s): up to %s for it to appear, %s for it to finish; a run that fails fails the step with its link",
				pr.Workflow, pr.Repo, pr.Workflow, g.RunAppearTimeout.Duration, g.RunTimeout.Duration))
			if pr.Change == "certs" && pr.RevertOf == "" {
				out = append(out, fmt.Sprintf("preflight checked that %s deploys to environment %s on a push to %s", pr.Workflow, cfg.Clusters[p.Destination].CertsEnvironment, pr.Base))
			}
		}
	case KindWaitDNS:
		out = append(out, fmt.Sprintf("poll %s until every resolver answers CNAME %s for %s", strings.Join(s.WaitDNS.Resolvers, ", "), s.WaitDNS.Want, s.WaitDNS.Name))
	case KindWaitTLS:
		out = append(out, fmt.Sprintf("verified TLS handshake to %s with SNI %s until it succeeds", s.WaitTLS.Address, s.WaitTLS.ServerName))
	}
	for _, c := range Commands(cfg, p, s) {
		out = append(out, c.String())
	}
	return out
}
