package main

import (
	"context"
	"io"
	"log/slog"
	"os"

	"github.com/nycmeshnet/cutoverbot/ops/config"
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
	srv, err := server.New(ctx, cfg, server.Options{Logger: logger})
	if err != nil {
		return err
	}
	logger.Info("cutoverbot starting", "channel", cfg.Slack.Channel, "clusters", len(cfg.Clusters), "listen", cfg.HTTP.Listen)
	return srv.Run(ctx)
}
