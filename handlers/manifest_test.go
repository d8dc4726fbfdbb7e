package handlers_test

import (
	"context"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/nycmeshnet/cutoverbot/handlers"
)

// The slash command's usage hint in the app manifest, Help and the handler agree on
// the subcommands.
func TestEverySubcommandIsHintedHelpedAndHandled(t *testing.T) {
	raw, err := os.ReadFile("../deploy/slack-app-manifest.yaml")
	require.NoError(t, err)
	var m struct {
		Features struct {
			SlashCommands []struct {
				UsageHint string `yaml:"usage_hint"`
			} `yaml:"slash_commands"`
		} `yaml:"features"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &m))
	require.Len(t, m.Features.SlashCommands, 1)
	var hinted []string
	for _, part := range strings.Split(m.Features.SlashCommands[0].UsageHint, "|") {
		hinted = append(hinted, strings.Fields(part)[0])
	}
	want := append([]string(nil), handlers.Subcommands()...)
	sort.Strings(want)
	sort.Strings(hinted)
	assert.Equal(t, want, hinted, "usage_hint lists every subcommand, once")

	help := strings.Join(handlers.Help().Sections, "\n")
	f := newFixture(t)
	for _, sub := range handlers.Subcommands() {
		assert.Contains(t, help, "`/cutover "+sub, "Help lists %s", sub)
		f.h.HandleCommand(context.Background(), handlers.Command{UserID: "U02BOB", ChannelID: f.ch, Text: sub, ResponseURL: "U02BOB"})
		assert.NotContains(t, f.poster.lastPrivate(t, "U02BOB"), "I don't know", "the handler knows %s", sub)
	}
}
