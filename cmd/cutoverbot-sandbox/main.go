// Command cutoverbot-sandbox runs a whole cutover in a local sandbox: a local Slack,
// two simulated clusters with their own PostgreSQL servers, a local GitHub, DNS and
// meshweb, and the real bot between them (`make demo`). It is a command of its own so
// that the production binary links none of those fakes.
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

	"github.com/nycmeshnet/cutoverbot/sandbox/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "cutoverbot-sandbox:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cutoverbot-sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	installs := fs.Int("installs", 20000, "installs seeded into the origin (MeshDB has about 20,000)")
	keep := fs.Bool("keep", false, "keep the sandbox directory (databases, spool, bot log)")
	timeout := fs.Duration("timeout", 15*time.Minute, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: cutoverbot-sandbox [--installs N] [--keep] [--timeout D]")
		fmt.Fprintln(stderr, "A whole cutover in a local sandbox, nothing to configure.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	if err := demo.Run(ctx, stdout, demo.Options{Installs: *installs, Keep: *keep, Timeout: *timeout}); err != nil {
		return fmt.Errorf("demo failed: %w", err)
	}
	return nil
}
