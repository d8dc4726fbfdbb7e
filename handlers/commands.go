package handlers

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/nycmeshnet/cutoverbot/bot/message"
)

// A runner runs one /cutover subcommand with the words that follow it. Each runner
// lives in its own file (command_*.go) and registers itself there by name, so adding
// a subcommand touches that one file.
type runner interface {
	run(ctx context.Context, h *Handler, c Command, args []string)
}

// subcommand is a runner with what /cutover needs to know about it.
type subcommand struct {
	name string
	// rank places the subcommand in Help and Subcommands.
	rank int
	// help is its line in Help; empty when another subcommand's line covers it.
	help string
	// anyChannel answers outside the cutover channel (help changes nothing).
	anyChannel bool
	runner
}

var registry = map[string]subcommand{}

// register adds a subcommand; a name or rank registered twice is a programming error
// (a shared rank would leave Help's order to chance).
func register(s subcommand) {
	for _, o := range registry {
		if o.name == s.name || o.rank == s.rank {
			panic(fmt.Sprintf("handlers: subcommand %s (rank %d) clashes with %s (rank %d)", s.name, s.rank, o.name, o.rank))
		}
	}
	registry[s.name] = s
}

// ranked lists the registered subcommands in Help's order.
func ranked() []subcommand {
	subs := make([]subcommand, 0, len(registry))
	for _, s := range registry {
		subs = append(subs, s)
	}
	sort.Slice(subs, func(i, j int) bool { return subs[i].rank < subs[j].rank })
	return subs
}

// Subcommands are the words /cutover knows; Help and the app manifest's usage_hint
// list each (a test holds them to it).
func Subcommands() []string {
	var names []string
	for _, s := range ranked() {
		names = append(names, s.name)
	}
	return names
}

// Help lists every subcommand, one line each.
func Help() message.Message {
	lines := []string{"*`/cutover` moves MeshDB and its database between clusters, every step approved by a second maintainer.*"}
	for _, s := range ranked() {
		if s.help != "" {
			lines = append(lines, "• "+s.help)
		}
	}
	return message.Message{Text: "How to use /cutover", Sections: []string{strings.Join(lines, "\n")}}
}

// unknown answers a word /cutover does not know with Help.
func unknown(sub string) message.Message {
	m := Help()
	m.Sections = append([]string{fmt.Sprintf("I don't know `%s`.", clip(sub, 40))}, m.Sections...)
	return m
}

func first(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}
