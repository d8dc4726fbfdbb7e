package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/sandbox/demo"
	"github.com/nycmeshnet/cutoverbot/server"
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, path := flags("serve", "serve --config FILE", stderr)
	logFormat := fs.String("log-format", "json", "json or text")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := load(*path, config.Options{RequireTokens: true}, stderr)
	if err != nil {
		return err
	}
	var h slog.Handler = slog.NewJSONHandler(os.Stderr, nil)
	if *logFormat == "text" {
		h = slog.NewTextHandler(os.Stderr, nil)
	}
	logger := slog.New(h)
	srv, err := server.New(cfg, server.Options{Logger: logger})
	if err != nil {
		return err
	}
	logger.Info("cutoverbot starting", "channel", cfg.Slack.Channel, "clusters", len(cfg.Clusters), "listen", cfg.HTTP.Listen)
	return srv.Run(ctx)
}

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, _ := flags("demo", "demo [--installs N] [--keep]", stderr)
	installs := fs.Int("installs", 20000, "installs seeded into the origin (MeshDB has about 20,000)")
	keep := fs.Bool("keep", false, "keep the sandbox directory (databases, spool, bot log)")
	timeout := fs.Duration("timeout", 15*time.Minute, "give up after this long")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := demo.Run(ctx, stdout, demo.Options{Installs: *installs, Keep: *keep, Timeout: *timeout}); err != nil {
		return fmt.Errorf("demo failed: %w", err)
	}
	return nil
}
