package handlers

import "context"

// helpCommand answers `/cutover help` (and a bare `/cutover`) anywhere.
type helpCommand struct{}

func init() {
	register(subcommand{name: "help", rank: 90, anyChannel: true, help: "`/cutover help`: this text", runner: helpCommand{}})
}

func (helpCommand) run(ctx context.Context, h *Handler, c Command, _ []string) {
	h.reply(ctx, c, Help())
}
