package handlers

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
)

// skipCommand answers `/cutover skip STEP REASON`: a typed skip names its step, so it
// cannot skip one that came up after it was typed.
type skipCommand struct{}

func init() {
	register(subcommand{name: "skip", rank: 50, help: "`/cutover skip STEP REASON`: skip the step the run waits at, e.g. `/cutover skip 12 the diff is expected`", runner: skipCommand{}})
}

func (skipCommand) run(ctx context.Context, h *Handler, c Command, args []string) {
	if h.opts.Engine.Active() == nil {
		h.refuse(ctx, c.to(), "no_run", "no cutover is running")
		return
	}
	step, err := strconv.Atoi(first(args))
	if err != nil || step < 1 {
		h.refuse(ctx, c.to(), "usage", "name the step and say why: `/cutover skip STEP REASON`, e.g. `/cutover skip 12 the 3 changed installs were edited during the dump`"+h.atStep())
		return
	}
	if len(args) < 2 {
		h.refuse(ctx, c.to(), "reason_required", fmt.Sprintf("skipping needs a reason: `/cutover skip %d REASON`", step))
		return
	}
	h.decideCommand(ctx, c, engine.Skip, step, strings.Join(args[1:], " "))
}
