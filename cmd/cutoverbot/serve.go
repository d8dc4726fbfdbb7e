package main

import (
	"context"
	"io"
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return usageErr("serve is not wired yet")
}

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return usageErr("demo is not wired yet")
}
