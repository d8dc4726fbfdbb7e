// Command cutoverbot runs the MeshDB stateful cutover from Slack. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nycmeshnet/cutoverbot/buildinfo"
	"github.com/nycmeshnet/cutoverbot/console"
	"github.com/nycmeshnet/cutoverbot/handlers"
	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/ops/steps"
	"github.com/nycmeshnet/cutoverbot/server"
)

const usage = `cutoverbot: runs the MeshDB stateful cutover from Slack, every step behind an approval.

Usage:
  cutoverbot serve   --config FILE              run the bot (Slack Socket Mode; /healthz, /readyz, /metrics)
  cutoverbot plan    --config FILE ORIGIN DEST  print the resolved plan with its exact commands; changes nothing
  cutoverbot check   --config FILE [--offline]  validate the configuration (every problem at once), then try every connection
  cutoverbot history --config FILE [--run ID]   list runs and their audit log
  cutoverbot history --server URL [--run ID]    the same, from a running bot's health port
  cutoverbot version                            version, commit, build date and Go version

Tokens come from the environment only: SLACK_BOT_TOKEN, SLACK_APP_TOKEN, GITHUB_TOKEN.
Exit status: 0 ok, 1 failure, 2 usage or configuration error.
A whole cutover in a local sandbox: make demo (the separate command cutoverbot-sandbox).
`

// exitError carries an exit status out of a subcommand.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }

func usageErr(format string, args ...any) error {
	return exitError{2, fmt.Errorf(format, args...)}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err == nil {
		return
	}
	code := 1
	var ee exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	fmt.Fprintln(os.Stderr, "cutoverbot:", errorText(err))
	os.Exit(code)
}

// errorText is err in words: the failures of ours in its text (a cluster that cannot
// be connected to at startup) worded as everywhere else.
func errorText(err error) string { return handlers.ErrText(err.Error()) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return exitError{2, errors.New("name a command")}
		}
		return nil
	}
	err := dispatch(ctx, args[0], args[1:], stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func dispatch(ctx context.Context, cmd string, rest []string, stdout, stderr io.Writer) error {
	switch cmd {
	case "plan":
		return cmdPlan(rest, stdout, stderr)
	case "check":
		return cmdCheck(ctx, rest, stdout, stderr)
	case "history":
		return cmdHistory(ctx, rest, stdout, stderr)
	case "version":
		fmt.Fprint(stdout, buildinfo.Read())
		return nil
	case "serve":
		return cmdServe(ctx, rest, stdout, stderr)
	}
	fmt.Fprint(stderr, usage)
	return usageErr("unknown command %q", cmd)
}

func flags(name, synopsis string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := fs.String("config", "", "configuration file (see cutover.example.yaml)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: cutoverbot %s\n", synopsis)
		fs.PrintDefaults()
	}
	return fs, cfg
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return exitError{2, err}
	}
	return nil
}

func load(path string, opts config.Options, stderr io.Writer) (*config.Config, error) {
	if path == "" {
		return nil, usageErr("--config FILE is required")
	}
	cfg, problems, err := config.Load(path, opts)
	console.Problems(stderr, problems)
	if err != nil {
		var ps config.Problems
		if errors.As(err, &ps) {
			return nil, exitError{2, fmt.Errorf("%s: %d error(s); nothing was done", path, len(ps.Criticals()))}
		}
		return nil, exitError{2, err}
	}
	return cfg, nil
}

func cmdPlan(args []string, stdout, stderr io.Writer) error {
	fs, path := flags("plan", "plan --config FILE ORIGIN DEST", stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return usageErr("plan needs ORIGIN and DEST, e.g. plan --config cutover.yaml prod2 prod1")
	}
	cfg, err := load(*path, config.Options{}, stderr)
	if err != nil {
		return err
	}
	p, err := plan.Build(cfg, fs.Arg(0), fs.Arg(1))
	if err != nil {
		return exitError{2, err}
	}
	console.Plan(stdout, cfg, p)
	return nil
}

func cmdCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("check", "check --config FILE [--offline]", stderr)
	offline := fs.Bool("offline", false, "only validate the file; try no connection")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := load(*path, config.Options{}, stdout)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ok: %s is valid (%d clusters, %d maintainers, %d approval(s) per step)\n",
		*path, len(cfg.Clusters), len(cfg.Slack.Maintainers.Users), cfg.Slack.ApprovalsRequired)
	if *offline {
		return nil
	}
	results := append(server.TokenChecks(cfg, time.Now()), server.Check(ctx, cfg)...)
	failed := 0
	for _, r := range results {
		mark := "ok  "
		switch {
		case !r.OK:
			mark = "FAIL"
			failed++
		case r.Warn:
			mark = "WARN"
		}
		fmt.Fprintf(stdout, "%s %s: %s\n", mark, r.Name, r.Msg)
	}
	if failed > 0 {
		return fmt.Errorf("%d check(s) failed", failed)
	}
	return nil
}

func cmdHistory(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("history", "history (--config FILE | --server URL) [--run ID] [--limit N] [-v]", stderr)
	serverURL := fs.String("server", "", "read from a running bot's health port (e.g. http://localhost:8080) instead of the store")
	runID := fs.String("run", "", "show only this run, with its whole audit log")
	limit := fs.Int("limit", 20, "how many runs")
	verbose := fs.Bool("v", false, "print each run's audit log")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *serverURL != "" {
		if *path != "" {
			return usageErr("give --config FILE or --server URL, not both")
		}
		return historyFromServer(ctx, *serverURL, *runID, *limit, *verbose, stdout)
	}
	cfg, err := load(*path, config.Options{}, stderr)
	if err != nil {
		return err
	}
	st, _, err := server.OpenStore(ctx, cfg)
	if err != nil {
		if cfg.State.Backend != "kubernetes" {
			// The running bot holds the file's lock.
			return fmt.Errorf("%w; while the bot runs, read its history through its health port: "+
				"kubectl -n cutoverbot exec deploy/cutoverbot -- /cutoverbot history --server http://localhost:8080", err)
		}
		return err
	}
	defer st.Close()
	spool, err := steps.SpoolUsage(cfg.State.Dir)
	if err != nil {
		return err
	}
	audit := func(id string) ([]engine.AuditEntry, error) { return st.Audit(ctx, id) }
	if *runID != "" {
		r, err := st.Get(ctx, *runID)
		if err != nil {
			return exitError{2, err}
		}
		return console.History(stdout, []*engine.Run{r}, spool, audit, true)
	}
	runs, err := st.List(ctx, *limit)
	if err != nil {
		return err
	}
	return console.History(stdout, runs, spool, audit, *verbose)
}

func historyFromServer(ctx context.Context, url, runID string, limit int, verbose bool, stdout io.Writer) error {
	c, err := server.NewHistoryClient(url)
	if err != nil {
		return exitError{2, err}
	}
	audit := func(id string) ([]engine.AuditEntry, error) {
		page, err := c.Run(ctx, id)
		return page.Audit, err
	}
	if runID != "" {
		page, err := c.Run(ctx, runID)
		if errors.Is(err, engine.ErrNotFound) {
			return exitError{2, err}
		}
		if err != nil {
			return err
		}
		return console.History(stdout, []*engine.Run{page.Run}, nil, func(string) ([]engine.AuditEntry, error) { return page.Audit, nil }, true)
	}
	page, err := c.List(ctx, limit)
	if err != nil {
		return err
	}
	return console.History(stdout, page.Runs, page.Spool, audit, verbose)
}
