// Package demo runs a whole cutover in a local sandbox: a local Slack, two simulated
// clusters with their own PostgreSQL servers seeded with MeshDB-shaped data, and the
// real bot between them, with a scripted initiator and a second maintainer clicking.
// It prints the channel as a transcript while it happens.
package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nycmeshnet/cutoverbot/bot/slackfake"
	"github.com/nycmeshnet/cutoverbot/handlers"
	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/dns"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/pg"
	"github.com/nycmeshnet/cutoverbot/ops/snapshot"
	"github.com/nycmeshnet/cutoverbot/ops/tlswait"
	"github.com/nycmeshnet/cutoverbot/sandbox"
	"github.com/nycmeshnet/cutoverbot/server"
)

// The people of the demo.
const (
	Alice   = "U01ALICE" // starts the run
	Bob     = "U02BOB"   // approves
	Channel = "C0123MESHDB"
)

// Options shape a demo run.
type Options struct {
	Installs int           // origin size; 20,000 is MeshDB's
	Timeout  time.Duration // for the whole cutover
	Keep     bool          // keep the sandbox directory
}

// Run performs the demo and reports whether the cutover completed and verified.
func Run(ctx context.Context, out io.Writer, opts Options) error {
	if opts.Installs == 0 {
		opts.Installs = 20000
	}
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	dir, err := os.MkdirTemp("", "cutoverbot-demo-")
	if err != nil {
		return err
	}
	if !opts.Keep {
		defer os.RemoveAll(dir)
	}
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	say("== cutoverbot demo: a whole MeshDB cutover in a local sandbox (%s)", dir)

	start := time.Now()
	say("-- starting cluster prod2 (origin): Kubernetes API + PostgreSQL 15, seeding %d installs", opts.Installs)
	origin, err := sandbox.NewCluster(ctx, "prod2", filepath.Join(dir, "prod2"), sandbox.Options{Installs: opts.Installs, ScaleDelay: 300 * time.Millisecond})
	if err != nil {
		return err
	}
	defer origin.Close()
	say("-- starting cluster prod1 (destination): an older, smaller copy of the data")
	dest, err := sandbox.NewCluster(ctx, "prod1", filepath.Join(dir, "prod1"), sandbox.Options{Installs: opts.Installs / 2, ScaleDelay: 300 * time.Millisecond})
	if err != nil {
		return err
	}
	defer dest.Close()
	say("   clusters ready in %s", time.Since(start).Round(time.Millisecond))

	slack, err := slackfake.Start(slackfake.Options{
		BotToken: "xoxb-demo-bot", AppToken: "xapp-demo-app",
		Channels: map[string]string{Channel: "meshdb"},
		Users:    map[string]string{Alice: "alice", Bob: "bob", "U03CAROL": "carol"},
	})
	if err != nil {
		return err
	}
	defer slack.Close()
	tr := newTranscript(out, slack)
	slack.OnChange(tr.event)

	clusters := []*sandbox.Cluster{origin, dest}
	_, base, err := sandbox.WriteConfig(dir, clusters, nil)
	if err != nil {
		return err
	}
	say("-- starting GitHub (meshdb, nycmesh-dns, k8s-infra), two DNS resolvers and an HTTPS meshweb behind each cluster's LB")
	world, err := sandbox.StartTraffic(dir, base, origin, dest, "ghp-demo")
	if err != nil {
		return err
	}
	defer world.Close()
	_, cfg, err := sandbox.WriteConfig(dir, clusters, func(c *config.Config) {
		c.Slack.APIURL = slack.APIURL()
		world.Configure(c)
	})
	if err != nil {
		return err
	}
	cfg.Tokens = config.Tokens{SlackBot: config.NewSecret("xoxb-demo-bot"), SlackApp: config.NewSecret("xapp-demo-app"), GitHub: config.NewSecret(world.Token)}
	logs, err := os.Create(filepath.Join(dir, "bot.log"))
	if err != nil {
		return err
	}
	defer logs.Close()
	srv, err := server.New(ctx, cfg, server.Options{Logger: slog.New(slog.NewJSONHandler(logs, nil)), TickEvery: time.Second})
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx) }()
	defer func() { stop(); <-done }()

	if err := slack.WaitFor(ctx, slack.Connected); err != nil {
		return fmt.Errorf("the bot did not connect to the local Slack: %w", err)
	}
	say("-- the bot is connected to the local Slack; #meshdb follows\n")

	say("@alice: /cutover start prod2 prod1")
	if _, err := slack.SlashCommand(Alice, Channel, "start prod2 prod1"); err != nil {
		return err
	}
	if err := slack.WaitFor(ctx, func() bool { return srv.Engine.Active() != nil || len(slack.Ephemerals(Alice)) > 0 }); err != nil {
		return fmt.Errorf("the run did not start: %w", err)
	}
	if srv.Engine.Active() == nil {
		return fmt.Errorf("the run did not start: %s", slack.Ephemerals(Alice)[0].Text)
	}
	var run *engine.Run
	for {
		if err := slack.WaitFor(ctx, func() bool {
			run = srv.Engine.Active()
			if run == nil {
				return true
			}
			s := run.Steps[run.Current]
			_, _, ok := slack.FindButton(Channel, run.Note("header"), "Approve")
			return (s.State == engine.Awaiting && ok && run.Note(fmt.Sprintf("prompt/%d/%d", run.Current, s.Attempt)) != "") || s.State.Stuck()
		}); err != nil {
			return fmt.Errorf("waiting for the next prompt (run at step %d, notes %v): %w", run.Current+1, run.Notes, err)
		}
		if run == nil {
			break
		}
		s := run.Steps[run.Current]
		if s.State.Stuck() {
			return fmt.Errorf("step %d (%s) %s: %s", run.Current+1, handlers.StepTitle(s.Step), handlers.Human(s.State), handlers.StepErrorText(s))
		}
		ts, action, ok := slack.FindButton(Channel, run.Note("header"), "Approve")
		if !ok {
			continue
		}
		tr.click("bob", "Approve", run.Current+1, handlers.StepTitle(s.Step))
		if _, err := slack.Click(Bob, Channel, ts, action); err != nil {
			return err
		}
		// Wait until the click is taken, so the same prompt is not clicked twice.
		_ = slack.WaitFor(ctx, func() bool {
			r := srv.Engine.Active()
			return r == nil || r.Current != run.Current || r.Steps[run.Current].State != engine.Awaiting
		})
	}

	runs, err := srv.Store().List(ctx, 1)
	if err != nil || len(runs) == 0 {
		return fmt.Errorf("no run was stored: %v", err)
	}
	final := runs[0]
	say("\n== run %s %s in %s", final.ID, handlers.Human(final.State), final.Elapsed(time.Now()).Round(time.Second))
	if final.State != engine.Completed {
		return fmt.Errorf("the cutover did not complete: %s", handlers.Human(final.State))
	}
	if err := verify(ctx, out, origin, dest); err != nil {
		return err
	}
	for _, r := range world.Resolvers {
		a := dns.Query(ctx, r.Addr(), cfg.DNS.Name)
		say("== DNS: resolver %s answers %s → %s", r.Addr(), cfg.DNS.Name, a.CNAME)
	}
	pool, _ := snapshot.LoadRoots(world.CAFile)
	cert, err := tlswait.Check(ctx, cfg.Clusters[dest.Name].LBAddress, sandbox.ServiceHost, pool)
	if err != nil {
		return fmt.Errorf("the destination's certificate does not verify: %w", err)
	}
	say("== TLS: the destination LB presents a certificate %s", cert)
	return nil
}

// verify compares the two databases directly, outside the bot. The maintenance flag is
// left out: by design the origin stays in maintenance after the cutover.
func verify(ctx context.Context, out io.Writer, origin, dest *sandbox.Cluster) error {
	db := pg.DB{Name: sandbox.DBName, User: sandbox.DBUser, ExcludeTables: []string{"flags_flagstate"}}
	a, err := pg.Fingerprints(ctx, origin.Execer(), db)
	if err != nil {
		return err
	}
	b, err := pg.Fingerprints(ctx, dest.Execer(), db)
	if err != nil {
		return err
	}
	diffs := pg.CompareFingerprints(a, b)
	var rows int64
	for _, f := range a {
		rows += f.Rows
	}
	if len(diffs) > 0 {
		var lines []string
		for _, d := range diffs {
			lines = append(lines, fmt.Sprint(d))
		}
		return fmt.Errorf("verification FAILED: %s", strings.Join(lines, "; "))
	}
	fmt.Fprintf(out, "== verified independently: %d tables, %d rows, count(*) and md5 equal on prod2 and prod1\n", len(a), rows)
	return nil
}
