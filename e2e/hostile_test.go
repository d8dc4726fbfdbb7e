package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	cutoverbot "github.com/nycmeshnet/cutoverbot"
	"github.com/nycmeshnet/cutoverbot/ops/config"
)

// TestReliabilityHostileInputs sends commands a careless or hostile user could type,
// and configurations with values that would reach a shell or SQL. Each is refused with
// a message that says what is wrong; nothing is posted to the channel, no run starts,
// no command runs in any pod.
func TestReliabilityHostileInputs(t *testing.T) {
	w := newWorld(t, worldOptions{installs: 100})
	var log logs
	w.startBot(&log)
	execsBefore := w.origin.Kube.ExecCount() + w.dest.Kube.ExecCount()

	commands := []struct{ name, text, want string }{
		{"unknown cluster", "start prod2 prod9", `unknown cluster "prod9"`},
		{"same cluster twice", "start prod1 prod1", `both "prod1"`},
		{"extra argument", "start prod2 prod1 prod3", "/cutover start ORIGIN DEST"},
		{"shell in a cluster name", "start prod2;rm${IFS}-rf${IFS}/ prod1", "unknown cluster"},
		{"command substitution", "start $(reboot) prod1", "unknown cluster"},
		{"SQL in a cluster name", "start prod2'OR'1'='1 prod1", "unknown cluster"},
		{"homoglyph (Cyrillic o)", "start prоd2 prod1", "unknown cluster"},
		{"control characters", "start prod2\x00\x1b[2J prod1", "invisible or control character (U+0000)"},
		{"a line break between the clusters", "start prod2\nprod1", "line break (U+000A)"},
		{"a tab between the clusters", "start prod2\tprod1", "tab (U+0009)"},
		{"broadcast mention", "start <!channel> prod1", "unknown cluster"},
		{"right-to-left override", "start \u202eprod2 prod1", "invisible or control character (U+202E)"},
		{"giant text", "start " + strings.Repeat("A", 100_000) + " prod1", "characters long"},
		{"schedule at a non-time", "schedule prod2 prod1 \"tomorrow-ish; DROP\"", "time"},
		{"skip with no run", "skip '; DROP TABLE meshapi_install; --", "no cutover is running"},
		{"unknown command in unicode", "стартовать prod2 prod1", "I don't know"},
	}
	for _, c := range commands {
		before := len(w.private(alice))
		_, err := w.slack.SlashCommand(alice, channel, c.text)
		require.NoError(t, err)
		w.waitFor("a reply to "+c.name, func() bool { return len(w.private(alice)) > before })
		reply := w.private(alice)[len(w.private(alice))-1]
		assert.Contains(t, reply, c.want, c.name)
		assert.Less(t, len(reply), 4000, "%s: the reply is bounded, not an echo of the input", c.name)
		assert.NotContains(t, reply, "<!channel>", "%s: no broadcast mention is echoed", c.name)
	}
	// Clicks the bot cannot read: each gets a private answer, none is acknowledged late
	// or dropped in silence.
	clicks := []struct {
		name  string
		spoil func(p map[string]any)
	}{
		{"a click without actions", func(p map[string]any) {}},
		{"a click with an empty action list", func(p map[string]any) { p["actions"] = []any{} }},
		{"a click whose actions are not a list", func(p map[string]any) { p["actions"] = "approve" }},
		{"a click whose message is not an object", func(p map[string]any) {
			p["actions"] = []map[string]any{{"type": "button", "action_id": "approve", "value": "x|1|1"}}
			p["message"] = 42
		}},
	}
	for _, c := range clicks {
		before := len(w.private(alice))
		p := w.slack.ClickPayload(alice, channel, "1.000001", "")
		delete(p, "action_ts")
		c.spoil(p)
		raw, err := json.Marshal(p)
		require.NoError(t, err)
		id, err := w.slack.SendInteractive(raw)
		require.NoError(t, err)
		w.waitFor("a reply to "+c.name, func() bool { return len(w.private(alice)) > before })
		assert.Contains(t, w.private(alice)[before], "could not read that click", c.name)
		_, acked := w.slack.AckFor(id)
		assert.True(t, acked, "%s: the envelope was acknowledged", c.name)
	}
	assert.Empty(t, w.slack.Messages(channel), "no refusal posted to the channel")
	assert.Equal(t, execsBefore, w.origin.Kube.ExecCount()+w.dest.Kube.ExecCount(), "no command ran in any pod")
	runs, err := w.srv.Store().List(context.Background(), 0)
	require.NoError(t, err)
	assert.Empty(t, runs, "no run was created")
	w.stopBot()
	w.scanSecrets(log.String())

	// Configurations: every value that reaches a pod's argv or SQL is checked when the
	// file is loaded.
	base := string(cutoverbot.ExampleConfig)
	configs := []struct{ name, from, to, want string }{
		{"database name with SQL", "  name: meshdb\n", "  name: \"meshdb; DROP DATABASE meshdb\"\n", "database.name"},
		{"database user with SQL", "  user: meshdb\n", "  user: \"meshdb' OR '1'='1\"\n", "database.user"},
		{"excluded table with SQL", "exclude_tables: []", `exclude_tables: ["x'); DROP TABLE y; --"]`, "database.exclude_tables[0]"},
		{"namespace with a shell", "    namespace: meshdb\n", "    namespace: \"meshdb && rm -rf /\"\n", "namespace"},
		{"container with substitution", "container: meshdb-postgres", `container: "$(id)"`, "container"},
		{"selector that does not parse", "selector: app=meshdb-postgres-app", `selector: "app in (x"`, "selector"},
		{"unknown cluster in the plan", "backend: file", "backend: etcd", "state.backend"},
		{"Slack token over plain http", `api_url: ""                   # Slack`, `api_url: "http://slack.example.com/api/" # Slack`, "slack.api_url"},
		{"GitHub token over plain http", `api_url: ""                   # empty = https://api.github.com/`, `api_url: "http://ghe.example/api/v3/"`, "github.api_url"},
	}
	for _, c := range configs {
		require.Contains(t, base, c.from, c.name)
		_, problems := config.Parse([]byte(strings.Replace(base, c.from, c.to, 1)), config.Options{Getenv: func(string) string { return "" }})
		crit := problems.Criticals()
		require.NotEmpty(t, crit, "%s is refused", c.name)
		assert.Contains(t, fmt.Sprint(crit), c.want, c.name)
	}
	record(t, suiteRow{Scenario: "hostile input", Faults: fmt.Sprintf("%d commands, %d unreadable clicks, %d configurations refused", len(commands), len(clicks), len(configs))})
}
