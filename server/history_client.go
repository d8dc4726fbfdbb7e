package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
)

// HistoryClient reads runs and their audit log from a running bot's history API
// (`cutoverbot history --server URL`).
type HistoryClient struct {
	base string
	hc   *http.Client
}

// NewHistoryClient checks base (the bot's health port, e.g. http://localhost:8080).
func NewHistoryClient(base string) (*HistoryClient, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--server %q: give the bot's health port as http://HOST:PORT (e.g. http://localhost:8080 inside its pod)", base)
	}
	return &HistoryClient{base: strings.TrimRight(base, "/"), hc: &http.Client{Timeout: 30 * time.Second}}, nil
}

// List returns the newest runs first, and what the bot's spool holds.
func (c *HistoryClient) List(ctx context.Context, limit int) (RunsPage, error) {
	var page RunsPage
	err := c.get(ctx, pathRuns+"?limit="+strconv.Itoa(limit), &page)
	return page, err
}

// Run returns one run and its audit log; engine.ErrNotFound for an unknown ID.
func (c *HistoryClient) Run(ctx context.Context, id string) (RunPage, error) {
	var page RunPage
	err := c.get(ctx, pathRuns+"/"+url.PathEscape(id), &page)
	return page, err
}

func (c *HistoryClient) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("read the history from %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("read the history from %s: %w", c.base, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e apiError
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			return fmt.Errorf("%s%s answered %s: is this a cutoverbot health port?", c.base, path, resp.Status)
		}
		if resp.StatusCode == http.StatusNotFound {
			return fmt.Errorf("%s: %w", e.Error, engine.ErrNotFound)
		}
		return fmt.Errorf("%s answered %s: %s", c.base, resp.Status, e.Error)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s%s: not the history API's answer: %w", c.base, path, err)
	}
	return nil
}
