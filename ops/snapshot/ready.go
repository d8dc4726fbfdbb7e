package snapshot

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// errNotReady marks an answer worth waiting out: the load balancer's 502/503/504 while
// meshweb's pods restart (maintenance mode fails their probes), or a connection that
// fails on the way.
var errNotReady = errors.New("meshweb not ready")

// probe GETs path once and says whether meshweb answered 200.
func probe(ctx context.Context, c *http.Client, t Target, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(t.ServiceURL, "/")+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "cutoverbot")
	get := report.SnapshotGet{How: report.SnapshotCall, Path: path, Where: t.Where}
	resp, err := c.Do(req)
	if err != nil {
		get.NotReady = true
		return &report.Failed{Facts: get, Err: err, Sentinel: errNotReady}
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		get.How, get.Status, get.NotReady = report.SnapshotUnready, resp.Status, true
		return &report.Failed{Facts: get, Sentinel: errNotReady}
	case http.StatusFound:
		if strings.HasPrefix(resp.Header.Get("Location"), "/maintenance") {
			return maintenance(get, resp)
		}
	}
	return answered(get, resp)
}

// lastAnswer is an answer waited out, as the end of the wait names it: not as one
// worth waiting for any more.
func lastAnswer(err error) error {
	f, ok := err.(*report.Failed)
	if !ok {
		return err
	}
	get, ok := f.Facts.(report.SnapshotGet)
	if !ok || !get.NotReady {
		return err
	}
	get.NotReady = false
	return &report.Failed{Facts: get, Err: f.Err}
}

// WaitReady GETs path through t every `every` until meshweb answers 200, for at most
// timeout: after maintenance mode is turned off, pods that restarted while their probes
// failed come back one by one, and the load balancer answers 502/503 meanwhile. Any
// other answer (maintenance still on, a refused Host, a 404 or 500) fails at once, as
// waiting would not change it. progress hears each answer that is waited out. It
// returns how many requests it took.
func WaitReady(ctx context.Context, t Target, path string, every, timeout time.Duration, progress func(attempt int, err error)) (int, error) {
	if t.Timeout == 0 {
		t.Timeout = 60 * time.Second
	}
	if t.Where == "" {
		t.Where = t.ServiceURL
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := t.client()
	defer c.CloseIdleConnections()
	var last error // the last answer not cut short by the end of the wait
	for attempt := 1; ; attempt++ {
		err := probe(ctx, c, t, path)
		if err == nil {
			return attempt, nil
		}
		if ctx.Err() == nil || last == nil {
			last = err
		}
		if ctx.Err() == nil && !errors.Is(err, errNotReady) {
			return attempt, err
		}
		if progress != nil && ctx.Err() == nil {
			progress(attempt, err)
		}
		select {
		case <-ctx.Done():
			if parent.Err() != nil {
				return attempt, parent.Err()
			}
			return attempt, report.Fail(report.MeshwebNotReady{Where: t.Where, Timeout: timeout, Requests: attempt}, lastAnswer(last))
		case <-time.After(every):
		}
	}
}
