// Package console renders plans, checks and history for a terminal.
package console

import (
	"fmt"
	"io"
	"time"

	"github.com/nycmeshnet/cutoverbot/handlers"
	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/ops/steps"
)

// Plan prints the resolved plan: number, title, cluster and the exact commands.
func Plan(w io.Writer, cfg *config.Config, p plan.Plan) {
	fmt.Fprintf(w, "Cutover plan %s -> %s: %d steps, each waiting for approval by a maintainer other than the initiator", p.Origin, p.Destination, len(p.Steps))
	if cfg.Slack.ApprovalsRequired > 1 {
		fmt.Fprintf(w, " (%d distinct approvals per step)", cfg.Slack.ApprovalsRequired)
	}
	fmt.Fprintln(w, ".")
	for i, s := range p.Steps {
		where := ""
		if s.Cluster != "" {
			where = fmt.Sprintf("  [%s: %s]", s.Role, s.Cluster)
		}
		gate := ""
		if s.AutoRun {
			gate = "  (read-only: runs at start)"
		}
		fmt.Fprintf(w, "\n%2d. %s%s%s\n", i+1, handlers.StepTitle(s), where, gate)
		for _, line := range handlers.Describe(cfg, p, s) {
			fmt.Fprintf(w, "      %s\n", line)
		}
	}
	fmt.Fprintln(w, "\nNothing was changed: this only prints the plan.")
}

// Problems prints configuration problems, one per line.
func Problems(w io.Writer, ps config.Problems) {
	for _, p := range ps {
		fmt.Fprintln(w, p.String())
	}
}

// History prints runs, newest first, and the audit log of each.
func History(w io.Writer, runs []*engine.Run, spool []steps.SpoolRun, audit func(runID string) ([]engine.AuditEntry, error), verbose bool) error {
	defer printSpool(w, spool)
	if len(runs) == 0 {
		fmt.Fprintln(w, "No runs yet.")
		return nil
	}
	for _, r := range runs {
		done := 0
		for _, s := range r.Steps {
			if s.State == engine.Succeeded {
				done++
			}
		}
		fmt.Fprintf(w, "%s  %s -> %s  by %s  %s  %s  %d/%d steps succeeded  (%s)\n",
			r.ID, r.Origin, r.Destination, r.Initiator, r.Created.UTC().Format("2006-01-02 15:04 MST"),
			handlers.Human(r.State), done, len(r.Steps), r.Elapsed(time.Now()).Round(time.Second))
		for _, u := range spool {
			if u.RunID == r.ID {
				fmt.Fprintf(w, "    spool: %d file(s), %s (dumps, backups, snapshots)\n", u.Files, steps.HumanBytes(u.Bytes))
			}
		}
		if !verbose {
			continue
		}
		entries, err := audit(r.ID)
		if err != nil {
			return err
		}
		for _, a := range entries {
			fmt.Fprintf(w, "    %s\n", handlers.AuditText(a))
		}
	}
	return nil
}

// printSpool says what the spool holds in all.
func printSpool(w io.Writer, spool []steps.SpoolRun) {
	if spool == nil {
		return
	}
	var total int64
	for _, u := range spool {
		total += u.Bytes
	}
	fmt.Fprintf(w, "Spool of this replica: %d run(s), %s (members' personal data: removed state.retention after each run ends)\n", len(spool), steps.HumanBytes(total))
}
