package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/bot/slackfake"
	"github.com/nycmeshnet/cutoverbot/ops/config"
)

// jwt makes a token shaped like a service-account token (the signature is not read).
func jwt(t *testing.T, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": "RS256", "kid": "k1"}) + "." + enc(claims) + ".c2lnbmF0dXJl"
}

// kubeconfigWith gives each context its own user and token.
func kubeconfigWith(tokens map[string]string) string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: \"https://127.0.0.1:1\"}\nusers:\n")
	for ctx, tok := range tokens {
		if strings.HasPrefix(tok, "file:") {
			fmt.Fprintf(&b, "- name: %s-user\n  user: {tokenFile: %q}\n", ctx, strings.TrimPrefix(tok, "file:"))
			continue
		}
		fmt.Fprintf(&b, "- name: %s-user\n  user: {token: %q}\n", ctx, tok)
	}
	b.WriteString("contexts:\n")
	for ctx := range tokens {
		fmt.Fprintf(&b, "- name: %s\n  context: {cluster: c, user: %s-user, namespace: meshdb}\n", ctx, ctx)
	}
	return b.String()
}

func TestTokenChecks(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	fileToken := jwt(t, map[string]any{"exp": now.Add(200 * 24 * time.Hour).Unix()})
	tokenFile := filepath.Join(dir, "prod2.token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(fileToken+"\n"), 0o600))
	cases := []struct {
		name, token string
		ok, warn    bool
		says        string
	}{
		{"a year left", jwt(t, map[string]any{"exp": now.Add(365 * 24 * time.Hour).Unix(), "sub": "system:serviceaccount:meshdb:cutoverbot"}), true, false, "expires 2027-12-07T12:00:00Z, in 365 days"},
		{"31 days left", jwt(t, map[string]any{"exp": now.Add(31 * 24 * time.Hour).Unix()}), true, false, "in 31 days"},
		{"30 days left", jwt(t, map[string]any{"exp": now.Add(30 * 24 * time.Hour).Unix()}), true, true, "in 30 days: rotate it"},
		{"hours left", jwt(t, map[string]any{"exp": now.Add(5 * time.Hour).Unix()}), true, true, "in less than a day: rotate it"},
		{"expired", jwt(t, map[string]any{"exp": now.Add(-time.Hour).Unix()}), false, false, "expired 2026-12-07T11:00:00Z: make a new one"},
		{"a legacy token without exp", jwt(t, map[string]any{"sub": "system:serviceaccount:meshdb:cutoverbot"}), true, false, "the token carries no expiry"},
		{"an opaque token", "abcdef0123456789", true, false, "the token carries no expiry"},
		{"a token file", "file:" + tokenFile, true, false, "in 200 days"},
		{"a broken JWT", "aaa.!!!.ccc", false, false, "not a JWT"},
		{"a missing token file", "file:" + filepath.Join(dir, "gone.token"), false, false, "read the token file of context \"prod1\""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			kc := filepath.Join(t.TempDir(), "kubeconfig")
			require.NoError(t, os.WriteFile(kc, []byte(kubeconfigWith(map[string]string{"prod1": tc.token})), 0o600))
			cfg := &config.Config{Clusters: map[string]config.Cluster{"prod1": {Kubeconfig: kc, Context: "prod1"}}}
			got := TokenChecks(cfg, now)
			require.Len(t, got, 1)
			assert.Equal(t, "token prod1", got[0].Name)
			assert.Equal(t, tc.ok, got[0].OK, got[0].Msg)
			assert.Equal(t, tc.warn, got[0].Warn, got[0].Msg)
			assert.Contains(t, got[0].Msg, tc.says)
			secret := tc.token
			if strings.HasPrefix(secret, "file:") {
				secret = fileToken
			}
			for _, part := range strings.Split(secret, ".") {
				if len(part) > 8 {
					assert.NotContains(t, got[0].Msg, part, "no part of a token is ever printed")
				}
			}
		})
	}

	// Every cluster, in name order; the pod's own service account and a missing context.
	kc := filepath.Join(dir, "kubeconfig")
	require.NoError(t, os.WriteFile(kc, []byte(kubeconfigWith(map[string]string{"prod1": "opaque"})), 0o600))
	cfg := &config.Config{Clusters: map[string]config.Cluster{
		"prod2": {Kubeconfig: kc, Context: "prod9"}, "prod1": {Kubeconfig: ""}}}
	got := TokenChecks(cfg, now)
	require.Len(t, got, 2)
	assert.Equal(t, "token prod1", got[0].Name)
	assert.True(t, got[0].OK)
	assert.Contains(t, got[0].Msg, "the kubelet renews its token")
	assert.False(t, got[1].OK)
	assert.Contains(t, got[1].Msg, `has no context "prod9"`)
}

// TestTheBotWarnsOfExpiringTokensOnceADay posts through the real Slack client to a
// local Slack: from a week ahead, one message per UTC day, whatever the restarts.
func TestTheBotWarnsOfExpiringTokensOnceADay(t *testing.T) {
	slack, err := slackfake.Start(slackfake.Options{BotToken: "xoxb-test", AppToken: "xapp-test",
		Channels: map[string]string{"C0123MESHDB": "meshdb"}, Users: map[string]string{"U01ALICE": "alice"}})
	require.NoError(t, err)
	t.Cleanup(slack.Close)
	var mu sync.Mutex
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	exp := now.Add(9 * 24 * time.Hour) // prod1's token ends on 2026-12-10 09:00
	kc := kubeconfigWith(map[string]string{
		"prod1": jwt(t, map[string]any{"exp": exp.Unix()}),
		"prod2": jwt(t, map[string]any{"exp": now.Add(300 * 24 * time.Hour).Unix()}),
	})
	s := newTestServerWith(t, kc, slack.APIURL(), Options{Clock: clock})
	ctx := context.Background()
	posted := func() []string {
		var out []string
		for _, m := range slack.Messages("C0123MESHDB") {
			out = append(out, m.Text)
		}
		return out
	}

	require.NoError(t, s.warnExpiringTokens(ctx))
	assert.Empty(t, posted(), "nine days ahead: not yet")

	advance(2*24*time.Hour + time.Hour) // 2026-12-03 10:00, 6 days 23 hours left
	require.NoError(t, s.warnExpiringTokens(ctx))
	require.Len(t, posted(), 1)
	assert.Equal(t, "The bot's Kubernetes token for prod1 needs replacing", posted()[0])
	blocks := string(slack.Messages("C0123MESHDB")[0].Blocks)
	assert.Contains(t, blocks, "expires 2026-12-10 09:00 UTC (in 6 days)")
	assert.Contains(t, blocks, "token rotation")
	assert.NotContains(t, blocks, "prod2")

	advance(12 * time.Hour) // 22:00 the same day
	require.NoError(t, s.warnExpiringTokens(ctx))
	assert.Len(t, posted(), 1, "once a day")

	advance(2 * time.Hour) // 2026-12-04 00:00
	require.NoError(t, s.warnExpiringTokens(ctx))
	require.Len(t, posted(), 2, "the next day, again")

	advance(7 * 24 * time.Hour) // past the end
	require.NoError(t, s.warnExpiringTokens(ctx))
	require.Len(t, posted(), 3)
	assert.Contains(t, string(slack.Messages("C0123MESHDB")[2].Blocks), "expired 2026-12-10 09:00 UTC")
}
