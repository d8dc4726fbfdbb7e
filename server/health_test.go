package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/bot/slackfake"
)

// /readyz says ready only while this replica serves Slack; /healthz says whether the
// store can be read and written, whatever Slack does.
func TestReadyOnlyWhileConnectedToSlack(t *testing.T) {
	slack, err := slackfake.Start(slackfake.Options{BotToken: "xoxb-test", AppToken: "xapp-test",
		Channels: map[string]string{"C0123MESHDB": "meshdb"}, Users: map[string]string{"U01ALICE": "alice"}})
	require.NoError(t, err)
	t.Cleanup(slack.Close)
	s := newTestServerWith(t, testKubeconfig, slack.APIURL(), Options{})
	s.cfg.HTTP.Listen = "127.0.0.1:0"
	web := httptest.NewServer(s.routes())
	t.Cleanup(web.Close)

	code, body := get(t, web.URL+"/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code, "before Run")
	assert.Contains(t, body, "not connected to Slack")
	code, body = get(t, web.URL+"/healthz")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ok\n", body)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer wcancel()
	require.NoError(t, slack.WaitFor(wctx, func() bool {
		code, _ := get(t, web.URL+"/readyz")
		return code == http.StatusOK
	}), "ready once connected")
	assert.True(t, slack.Connected())

	cancel()
	require.NoError(t, <-done, "a shutdown is not an error")
	code, _ = get(t, web.URL+"/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code, "after Run")
}

func TestHealthzFailsWhenTheStoreCannotBeWritten(t *testing.T) {
	s := newTestServer(t)
	web := httptest.NewServer(s.routes())
	t.Cleanup(web.Close)
	require.NoError(t, s.store.Close())

	code, body := get(t, web.URL+"/healthz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, "store: ")
}
