package snapshot_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/report"
	"github.com/nycmeshnet/cutoverbot/ops/snapshot"
	"github.com/nycmeshnet/cutoverbot/ops/snapshot/meshwebfake"
)

// After maintenance mode, meshweb's pods restart and the LB answers 502/503 for a
// while: the wait rides that out, and fails at once on what waiting cannot change.
func TestWaitReadyThroughRestartingPods(t *testing.T) {
	ca, err := meshwebfake.NewCA("test CA")
	require.NoError(t, err)
	db := &fakeDB{}
	db.nodes.Store(`[{"id":1}]`)
	mw := newMeshweb(t, ca, db)
	_, port, _ := net.SplitHostPort(mw.Addr())
	target := snapshot.Target{ServiceURL: "https://localhost:" + port, LBAddress: mw.Addr(), Where: "prod1 LB " + mw.Addr()}
	ctx := context.Background()
	const path = "/api/v1/mapdata/nodes/"

	mw.Restarting(4)
	var heard []string
	n, err := snapshot.WaitReady(ctx, target, path, 5*time.Millisecond, time.Minute, func(attempt int, err error) {
		heard = append(heard, err.Error())
		assert.ErrorAs(t, err, new(*report.Failed), "an answer waited out is a failure with its facts")
	})
	require.NoError(t, err)
	assert.Equal(t, 5, n, "four answers from the LB, then meshweb's 200")
	require.Len(t, heard, 4)
	assert.Contains(t, heard[0], "502 Bad Gateway")
	assert.Contains(t, heard[1], "503 Service Unavailable")
	_, err = snapshot.Fetch(ctx, target, paths, t.TempDir())
	require.NoError(t, err, "ready means the snapshot goes through")

	// Bounded: pods that never come back fail the wait with the last answer.
	mw.Restarting(1 << 30)
	n, err = snapshot.WaitReady(ctx, target, path, 5*time.Millisecond, 150*time.Millisecond, nil)
	require.Error(t, err)
	assert.Greater(t, n, 1)
	var f *report.Failed
	require.ErrorAs(t, err, &f)
	assert.Equal(t, report.MeshwebNotReady{Where: "prod1 LB " + mw.Addr(), Timeout: 150 * time.Millisecond, Requests: n}, f.Facts)
	var last *report.Failed
	require.ErrorAs(t, f.Err, &last, "the last answer")
	get, ok := last.Facts.(report.SnapshotGet)
	require.True(t, ok, "%T", last.Facts)
	assert.Regexp(t, `^50[23] `, get.Status)
	assert.Equal(t, report.SnapshotGet{How: report.SnapshotUnready, Path: path, Where: "prod1 LB " + mw.Addr(), Status: get.Status}, get,
		"named as the answer it was, no longer as one to wait out")
	mw.Restarting(0)

	// What waiting cannot change fails on the first answer.
	db.maintenance.Store(true)
	n, err = snapshot.WaitReady(ctx, target, path, 5*time.Millisecond, time.Minute, nil)
	require.ErrorIs(t, err, snapshot.ErrMaintenance)
	assert.Equal(t, 1, n)
	db.maintenance.Store(false)
	n, err = snapshot.WaitReady(ctx, snapshot.Target{ServiceURL: "https://127.0.0.1:" + port, LBAddress: mw.Addr()}, path, 5*time.Millisecond, time.Minute, nil)
	assert.ErrorContains(t, err, "400 Bad Request")
	assert.Equal(t, 1, n)
	n, err = snapshot.WaitReady(ctx, target, "/api/v1/mapdata/kiosks/", 5*time.Millisecond, time.Minute, nil)
	assert.ErrorContains(t, err, "404")
	assert.Equal(t, 1, n)

	// A cancelled run stops the wait with its own reason.
	mw.Restarting(1 << 30)
	cctx, cancel := context.WithCancel(ctx)
	_, err = snapshot.WaitReady(cctx, target, path, 5*time.Millisecond, time.Minute, func(attempt int, _ error) {
		if attempt == 2 {
			cancel()
		}
	})
	assert.ErrorIs(t, err, context.Canceled)
}
