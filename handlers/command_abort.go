package handlers

import (
	"context"
	"strconv"
	"strings"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
)

// abortCommand answers `/cutover abort [STEP] [REASON]`: naming the step refuses the
// abort if the run has moved on meanwhile.
type abortCommand struct{}

func init() {
	register(subcommand{name: "abort", rank: 40, help: "`/cutover abort [STEP] [REASON]`: stop (at STEP, if named); a rollback plan of what has run follows", runner: abortCommand{}})
}

func (abortCommand) run(ctx context.Context, h *Handler, c Command, args []string) {
	step := 0
	if len(args) > 0 {
		if n, err := strconv.Atoi(args[0]); err == nil {
			step, args = n, args[1:]
		}
	}
	h.decideCommand(ctx, c, engine.Abort, step, strings.Join(args, " "))
}
