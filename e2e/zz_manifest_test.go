package e2e

import (
	"flag"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/nycmeshnet/cutoverbot/bot"
	"github.com/nycmeshnet/cutoverbot/bot/slackfake"
)

// manifestScopes are the bot scopes the Slack app manifest asks for; every local
// Slack of these tests grants exactly those, so a method the manifest does not cover
// answers missing_scope.
func manifestScopes(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("../deploy/slack-app-manifest.yaml")
	require.NoError(t, err)
	var m struct {
		OAuthConfig struct {
			Scopes struct {
				Bot []string `yaml:"bot"`
			} `yaml:"scopes"`
		} `yaml:"oauth_config"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &m))
	require.NotEmpty(t, m.OAuthConfig.Scopes.Bot)
	return m.OAuthConfig.Scopes.Bot
}

// slackCalls collects the Web API methods every test's local Slack saw called.
var slackCalls = &methodSet{seen: map[string]int{}}

type methodSet struct {
	mu    sync.Mutex
	seen  map[string]int
	tests int
}

func (m *methodSet) add(calls []slackfake.Call) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tests++
	for _, c := range calls {
		if strings.Contains(c.Method, ".") { // Web API methods, not the file upload's PUT
			m.seen[c.Method]++
		}
	}
}

// TestZZManifestAsksForExactlyTheScopesTheBotUses runs after the other tests of the
// package (Go runs a package's tests in the order of its files, this one's name sorts
// last, and no test here is parallel): the methods the bot called in all of them,
// through bot.MethodScopes, need exactly the manifest's scopes.
// Run alone or with -run, it checks only that each method called is covered.
func TestZZManifestAsksForExactlyTheScopesTheBotUses(t *testing.T) {
	slackCalls.mu.Lock()
	var methods []string
	for m := range slackCalls.seen {
		methods = append(methods, m)
	}
	tests := slackCalls.tests
	slackCalls.mu.Unlock()
	if tests == 0 {
		t.Skip("no end-to-end test ran before this one")
	}
	sort.Strings(methods)
	t.Logf("%d tests called %d Web API methods: %s", tests, len(methods), strings.Join(methods, ", "))
	used, err := bot.ScopesFor(methods)
	require.NoError(t, err, "every method the bot calls is in bot.MethodScopes")
	granted := manifestScopes(t)
	for _, s := range used {
		assert.Contains(t, granted, s, "the manifest grants %s, which the bot uses", s)
	}
	if f := flag.Lookup("test.run"); f != nil && f.Value.String() != "" {
		t.Logf("-run %s: not every test ran, so unused scopes are not checked", f.Value.String())
		return
	}
	for _, s := range granted {
		assert.Contains(t, used, s, "the manifest asks for %s, which no method the bot called needs", s)
	}
}
