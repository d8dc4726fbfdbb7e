package handlers

import (
	"fmt"
	"strings"

	"github.com/nycmeshnet/cutoverbot/bot/message"
	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
)

// Brief is what a prompt says about a step so that it can be judged in five seconds:
// one line of what changes, one line of how it is undone, and the exact commands to
// unfold if wanted.
type Brief struct {
	Changes string
	Undo    string
	// Details are the plan's facts and exact commands, as Slack shows them (mrkdwn).
	Details []string
}

// BriefOf describes step i of run r.
func BriefOf(cfg *config.Config, r *engine.Run, i int) Brief {
	s := r.Steps[i].Step
	b := Brief{Changes: changes(cfg, r, s), Undo: undone(r, s)}
	cmds := plan.Commands(cfg, r.Plan, s)
	facts := Describe(cfg, r.Plan, s)
	// Describe ends with the commands; the facts before them stay as they are.
	for _, f := range facts[:len(facts)-len(cmds)] {
		b.Details = append(b.Details, message.Escape(f))
	}
	for _, c := range cmds {
		b.Details = append(b.Details, commandLine(c, r.ID))
	}
	return b
}

// commandLine shows a command as it will run, with the run's own paths in place of the
// plan's <run> placeholder, and where its input and output go in words rather than
// shell redirections.
func commandLine(c plan.Command, runID string) string {
	fill := func(s string) string { return strings.ReplaceAll(s, "<run>", runID) }
	argv := make([]string, len(c.Argv))
	for i, a := range c.Argv {
		argv[i] = fill(a)
	}
	line := fmt.Sprintf("%s %s: `%s`", c.Cluster, c.Selector, message.Escape(plan.ShellQuote(argv)))
	if in := commandIn(c); in != "" {
		line += ", reading " + message.Escape(fill(in))
	}
	if out := commandOut(c); out != "" {
		line += ", writing " + message.Escape(fill(out))
	}
	if note := CommandNote(c); note != "" {
		line += " (" + message.Escape(note) + ")"
	}
	return line
}

// changes is one line of what running s changes, and where.
func changes(cfg *config.Config, r *engine.Run, s plan.Step) string {
	ns := func(cluster string) string { return cluster + "/" + cfg.Clusters[cluster].Namespace }
	step := func(id string) string {
		if n := r.Plan.Index(id); n >= 0 {
			return fmt.Sprintf("step %d", n+1)
		}
		return id
	}
	switch s.Kind {
	case plan.KindPreflight:
		return fmt.Sprintf("Nothing: read-only checks of %s and %s, GitHub and DNS.", r.Origin, r.Destination)
	case plan.KindScale:
		if s.Scale.Replicas != nil {
			return fmt.Sprintf("%s %s in %s scales to %d replicas (the current count is recorded).", s.Scale.Workload, s.Scale.Name, ns(s.Cluster), *s.Scale.Replicas)
		}
		return fmt.Sprintf("%s %s in %s scales back to the count %s recorded.", s.Scale.Workload, s.Scale.Name, ns(s.Cluster), step(s.Scale.RestoreFrom))
	case plan.KindMaintenance:
		if s.Maintenance.On {
			return fmt.Sprintf("MeshDB on %s goes into maintenance mode: its admin, API and query pages answer with the maintenance page.", s.Cluster)
		}
		return fmt.Sprintf("MeshDB on %s leaves maintenance mode and serves again.", s.Cluster)
	case plan.KindExec:
		return fmt.Sprintf("Runs `%s` in a %s pod in %s.", message.Escape(plan.ShellQuote(s.Exec.Argv)), s.Exec.Target, ns(s.Cluster))
	case plan.KindAnnounce:
		return fmt.Sprintf("Posts the %s announcement top-level in <#%s>.", s.Announce.Template, cfg.Slack.Channel)
	case plan.KindSnapshot:
		where := "the public URL"
		if s.Snapshot.Via == "lb" {
			where = s.Cluster + "'s load balancer " + s.Snapshot.LBAddress
		}
		line := fmt.Sprintf("Nothing: reads %d mapdata endpoint(s) through %s", len(s.Snapshot.Paths), where)
		if s.Snapshot.DiffAgainst != "" {
			line += " and compares them with " + step(s.Snapshot.DiffAgainst) + "'s"
		}
		return line + "."
	case plan.KindDump:
		if s.Undoes != "" {
			return fmt.Sprintf("Removes the dump's copy %s from the postgres pod in %s.", plan.RemoteDumpPath(r.ID), ns(s.Cluster))
		}
		line := fmt.Sprintf("Nothing on %s: pg_dump of %s streams into the bot's spool", s.Cluster, cfg.Database.Name)
		if rs := r.Plan.RestoreOf(s.ID); rs != nil {
			line += fmt.Sprintf("; meanwhile %s gets a copy in a temporary file and a read-only backup", rs.Cluster)
		}
		return line + "."
	case plan.KindRestore:
		if s.Restore.FromBackup != "" {
			return fmt.Sprintf("The %s database on %s is replaced by the backup %s took before restoring.", cfg.Database.Name, s.Cluster, step(s.Restore.FromBackup))
		}
		return fmt.Sprintf("The %s database on %s is replaced by %s's dump (pg_restore --clean); a backup is taken first.", cfg.Database.Name, s.Cluster, step(s.Restore.From))
	case plan.KindVerify:
		return "Nothing: compares per-table row counts and checksums of both databases."
	case plan.KindPullRequest:
		pr := s.PullRequest
		merge := "merged after approval"
		if pr.Merge != "auto" {
			merge = "left for a person to merge"
		}
		if pr.RevertOf != "" {
			return fmt.Sprintf("A pull request in %s reverts %s's change, %s.", pr.Repo, step(pr.RevertOf), merge)
		}
		if pr.Change == "dns" {
			return fmt.Sprintf("A pull request in %s points %s at %s instead of %s, %s.", pr.Repo, cfg.DNS.Name, pr.To, pr.From, merge)
		}
		return fmt.Sprintf("A pull request in %s moves %s's certificate from %s to %s, %s.", pr.Repo, cfg.DNS.Name, pr.From, pr.To, merge)
	case plan.KindWaitDNS:
		return fmt.Sprintf("Nothing: waits until every resolver answers %s for %s.", s.WaitDNS.Want, s.WaitDNS.Name)
	case plan.KindWaitTLS:
		return fmt.Sprintf("Nothing: waits for a verified TLS handshake with %s at %s.", s.WaitTLS.ServerName, s.WaitTLS.Address)
	}
	return StepTitle(s)
}

// undone is one line of how the step's change is undone: the rollback steps an abort
// would offer for it, read from the same rule that builds them.
func undone(r *engine.Run, s plan.Step) string {
	if s.Undoes != "" {
		n := r.Plan.Index(s.Undoes)
		return fmt.Sprintf("This undoes step %d; it is not undone in turn.", n+1)
	}
	var titles []string
	for _, u := range plan.Rollback(r.Plan, map[string]plan.Ran{s.ID: plan.Done}) {
		t := strings.TrimPrefix(strings.TrimPrefix(StepTitle(u), "Undo: "), "Undo (optional): ")
		if u.Optional {
			t += " (optional)"
		}
		titles = append(titles, t)
	}
	switch {
	case len(titles) > 0:
		return "Undo, offered after an abort: " + strings.Join(titles, ", then ") + "."
	case s.Mutates():
		return "No rollback step undoes this: an abort leaves it as it is."
	}
	return "Nothing to undo."
}
