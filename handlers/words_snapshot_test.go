package handlers_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/nycmeshnet/cutoverbot/handlers"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// snapshotFailureCases are ops/snapshot's failures, each as the snapshot step and
// ops/snapshot's Report.Summary wrote it before it was data.
func snapshotFailureCases() map[string][]failureCase {
	differs := func(summary ...string) string {
		return "the post snapshot differs from the prior one:\n" + strings.Join(summary, "\n") + "\nIf that is expected, Skip with the reason"
	}
	const (
		path  = "/api/v1/mapdata/nodes/"
		where = "prod1 LB 199.170.132.45:443"
	)
	get := func(how report.SnapshotGetHow) report.SnapshotGet {
		return report.SnapshotGet{How: how, Path: path, Where: where}
	}
	status, notReady, maint := get(report.SnapshotStatus), get(report.SnapshotUnready), get(report.SnapshotMaintenance)
	status.Status, status.Body = "404 Not Found", `{"detail":"Not found."}`
	notReady.Status, notReady.NotReady = "503 Service Unavailable", true
	maint.Location = "/maintenance/"
	unreachable := get(report.SnapshotCall)
	unreachable.NotReady = true
	return map[string][]failureCase{
		"failed_snapshot_get": {
			{get(report.SnapshotCall), "dial tcp 199.170.132.45:443: connect: connection refused",
				fmt.Sprintf("GET %s via %s: %s", path, where, "dial tcp 199.170.132.45:443: connect: connection refused")},
			{get(report.SnapshotCall), "not a JSON array (starts with {)", fmt.Sprintf("GET %s via %s: %s", path, where, "not a JSON array (starts with {)")},
			{status, "", fmt.Sprintf("GET %s via %s: %s: %s", path, where, "404 Not Found", `{"detail":"Not found."}`)},
			{get(report.SnapshotBody), "unexpected EOF", fmt.Sprintf("GET %s via %s: reading the body: %s", path, where, "unexpected EOF")},
			{maint, "", fmt.Sprintf("%v at %s (GET %s answered 302 -> %s)", "maintenance mode is on", where, path, "/maintenance/")},
			{notReady, "", fmt.Sprintf("%v: GET %s via %s: %s", "meshweb not ready", path, where, "503 Service Unavailable")},
			{report.SnapshotGet{How: report.SnapshotUnready, Path: path, Where: where, Status: "503 Service Unavailable"}, "",
				fmt.Sprintf("GET %s via %s: %s", path, where, "503 Service Unavailable")},
			{unreachable, "EOF", fmt.Sprintf("%v: GET %s via %s: %v", "meshweb not ready", path, where, "EOF")},
		},
		"failed_meshweb_not_ready": {{report.MeshwebNotReady{Where: where, Timeout: 5 * time.Minute, Requests: 61}, "GET " + path + " via " + where + ": 502 Bad Gateway",
			fmt.Sprintf("meshweb did not answer 200 via %s within %s (%d requests); the last answer: %s. Check the meshweb pods on that cluster (kubectl get pods, their events), then Retry",
				where, 5*time.Minute, 61, "GET "+path+" via "+where+": 502 Bad Gateway")}},
		"failed_tls_handshake": {
			{report.TLSHandshake{Address: "199.170.132.45:443", ServerName: "db.nycmesh.net"}, "x509: certificate is valid for sn10temp.nycmesh.net, not db.nycmesh.net",
				fmt.Sprintf("TLS to %s as %s: %s", "199.170.132.45:443", "db.nycmesh.net", "x509: certificate is valid for sn10temp.nycmesh.net, not db.nycmesh.net")},
			{report.TLSHandshake{NoCert: true}, "", "no certificate"},
		},
		"failed_tls_wait": {{report.TLSWait{ServerName: "db.nycmesh.net", Address: "199.170.132.45:443", Timeout: 10 * time.Minute, Attempts: 60}, "i/o timeout",
			fmt.Sprintf("no valid certificate for %s at %s after %s (%d attempts); last error: %s", "db.nycmesh.net", "199.170.132.45:443", 10*time.Minute, 60, "i/o timeout")}},
		"failed_snapshot_differs": {
			{report.SnapshotDiffers{Endpoints: []report.DiffEndpoint{
				{Name: "nodes", Before: 20114, After: 20115, Added: 1, Changed: 2, Items: []report.DiffItem{
					{How: report.DiffChanged, Key: "1234", Fields: []report.DiffField{{Field: "status", Old: `"Active"`, New: `"Inactive"`}}},
					{How: report.DiffChanged, Key: "5678", Fields: []report.DiffField{{Field: "name", Old: `"Grand"`, New: `"Grand St"`}, {Field: "notes", Old: "null", New: `"<b>roof</b> & mast"`}}},
					{How: report.DiffAdded, Key: "20115"}}},
				{Name: "links", Before: 9812, After: 9812},
				{Name: "sectors", Before: 3120, After: 3119, Removed: 1, Items: []report.DiffItem{{How: report.DiffRemoved, Key: "1932|90"}}},
			}}, "", differs(
				"nodes: 20114 before, 20115 after, 1 added, 0 removed, 2 changed",
				`• nodes 1234: status "Active" → "Inactive"`,
				`• nodes 5678: name "Grand" → "Grand St", notes null → "<b>roof</b> & mast"`,
				"• nodes 20115: added",
				"links: 9812 before, 9812 after, 0 added, 0 removed, 0 changed",
				"sectors: 3120 before, 3119 after, 0 added, 1 removed, 0 changed",
				"• sectors 1932|90: removed")},
			{report.SnapshotDiffers{Endpoints: []report.DiffEndpoint{
				{Name: "links", Before: 5, After: 4, Removed: 1, Changed: 1, Repeated: 1, Items: []report.DiffItem{
					{How: report.DiffChanged, Key: "1|2", Repeat: &report.KeyRepeat{Before: 2, After: 2}, Fields: []report.DiffField{{Field: "status", Old: `"Active"`, New: `"Inactive"`}}},
					{How: report.DiffRemoved, Key: "1|2", Repeat: &report.KeyRepeat{Before: 2, After: 2}, Entry: `{"from":1,"to":2,"status":"Planned"}`}}},
				{Name: "sectors", Before: 26, After: 26, Repeated: 3},
				{Name: "map", Before: 7, Missing: true},
			}}, "", differs(
				"links: 5 before, 4 after, 0 added, 1 removed, 1 changed; 1 key held by more than one entry, compared as multisets",
				`• links 1|2 (2 entries before, 2 after): status "Active" → "Inactive"`,
				`• links 1|2 (2 entries before, 2 after) {"from":1,"to":2,"status":"Planned"}: removed`,
				"sectors: 26 before, 26 after, 0 added, 0 removed, 0 changed; 3 keys held by more than one entry, compared as multisets",
				"map: 7 before, missing from the post snapshot")},
		},
	}
}

// The ends of the waits name their last answer, a failure of its own, in one sentence
// as the nested fmt.Errorf did.
func TestWaitFailuresReadAsOneSentence(t *testing.T) {
	const path, where = "/api/v1/mapdata/nodes/", "prod1 LB 199.170.132.45:443"
	last := report.Fail(report.SnapshotGet{How: report.SnapshotUnready, Path: path, Where: where, Status: "502 Bad Gateway"}, nil)
	err := report.Fail(report.MeshwebNotReady{Where: where, Timeout: time.Minute, Requests: 7}, last)
	want := "meshweb did not answer 200 via " + where + " within 1m0s (7 requests); the last answer: GET " + path + " via " + where +
		": 502 Bad Gateway. Check the meshweb pods on that cluster (kubectl get pods, their events), then Retry"
	assert.Equal(t, want, handlers.FailureText(engine.FailureOf(err)))
	assert.Equal(t, want, handlers.ErrText(err.Error()))

	hs := report.Fail(report.TLSHandshake{Address: "199.170.132.45:443", ServerName: "db.nycmesh.net"}, errors.New("remote error: tls: unrecognized name"))
	err = report.Fail(report.TLSWait{ServerName: "db.nycmesh.net", Address: "199.170.132.45:443", Timeout: 10 * time.Minute, Attempts: 3}, hs)
	want = "no valid certificate for db.nycmesh.net at 199.170.132.45:443 after 10m0s (3 attempts); last error: TLS to 199.170.132.45:443 as db.nycmesh.net: remote error: tls: unrecognized name"
	assert.Equal(t, want, handlers.FailureText(engine.FailureOf(err)))
	assert.Equal(t, want, handlers.ErrText(err.Error()))
}
