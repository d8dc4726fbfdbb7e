package snapshot_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/report"
	"github.com/nycmeshnet/cutoverbot/ops/snapshot"
	"github.com/nycmeshnet/cutoverbot/ops/snapshot/meshwebfake"
)

func diff(t *testing.T, before, after string, k snapshot.KeySpec) snapshot.Result {
	t.Helper()
	r, err := snapshot.Diff("nodes", strings.NewReader(before), strings.NewReader(after), k)
	require.NoError(t, err)
	return r
}

var id = snapshot.KeySpec{Fields: []string{"id"}}

func TestDiff(t *testing.T) {
	base := `[{"id":1,"name":"A","status":"Active"},{"id":2,"status":"Active"},{"id":1000001,"coordinates":[-73.9,40.7,null]}]`
	cases := []struct {
		name, after                     string
		added, removed, changed, repeat int
	}{
		{"identical", base, 0, 0, 0, 0},
		{"reordered and reformatted", `[ {"coordinates":[-73.9, 40.7, null],"id":1000001}, {"status":"Active","id":2}, {"status":"Active","name":"A","id":1} ]`, 0, 0, 0, 0},
		{"added", `[{"id":1,"name":"A","status":"Active"},{"id":2,"status":"Active"},{"id":1000001,"coordinates":[-73.9,40.7,null]},{"id":3}]`, 1, 0, 0, 0},
		{"removed", `[{"id":1,"name":"A","status":"Active"},{"id":1000001,"coordinates":[-73.9,40.7,null]}]`, 0, 1, 0, 0},
		{"changed", `[{"id":1,"name":"B","status":"Active"},{"id":2,"status":"Active"},{"id":1000001,"coordinates":[-73.9,40.7,null]}]`, 0, 0, 1, 0},
		{"absent equals null", `[{"id":1,"name":"A","status":"Active","notes":null},{"id":2,"status":"Active"},{"id":1000001,"coordinates":[-73.9,40.7,null]}]`, 0, 0, 0, 0},
		{"a second copy under a key is an addition", `[{"id":1,"name":"A","status":"Active"},{"id":1,"name":"A","status":"Active"},{"id":2,"status":"Active"},{"id":1000001,"coordinates":[-73.9,40.7,null]}]`, 1, 0, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := diff(t, base, tc.after, id)
			assert.Len(t, r.Added, tc.added)
			assert.Len(t, r.Removed, tc.removed)
			assert.Len(t, r.Changed, tc.changed)
			assert.Len(t, r.Repeated, tc.repeat)
			assert.Equal(t, tc.added+tc.removed+tc.changed == 0, r.Empty())
		})
	}
	r := diff(t, base, `[{"id":1,"name":"B","status":"Inactive"},{"id":2,"status":"Active"},{"id":1000001,"coordinates":[-73.9,40.7,null]}]`, id)
	require.Len(t, r.Changed, 1)
	assert.Equal(t, []snapshot.FieldChange{{Field: "name", Old: `"A"`, New: `"B"`}, {Field: "status", Old: `"Active"`, New: `"Inactive"`}}, r.Changed[0].Fields)
	rep := snapshot.Report{Results: []snapshot.Result{r}}
	assert.Equal(t, report.SnapshotDiffers{Endpoints: []report.DiffEndpoint{{Name: "nodes", Before: 3, After: 3, Changed: 1, Items: []report.DiffItem{
		{How: report.DiffChanged, Key: "1", Fields: []report.DiffField{{Field: "name", Old: `"A"`, New: `"B"`}, {Field: "status", Old: `"Active"`, New: `"Inactive"`}}}}}}},
		rep.Facts(5))
	assert.Contains(t, rep.Full(), "~ 1\n    name: \"A\" -> \"B\"")

	links := diff(t, `[{"from":1,"to":2,"status":"Active"},{"from":2,"to":3,"status":"Active"}]`, `[{"from":2,"to":3,"status":"Active"},{"from":1,"to":2,"status":"Inactive"}]`, snapshot.DiffPath("/api/v1/mapdata/links/"))
	require.Len(t, links.Changed, 1)
	assert.Equal(t, "1|2", links.Changed[0].Key)
	sectors := diff(t, `[{"nodeId":1,"azimuth":90,"radius":1},{"nodeId":1,"azimuth":180,"radius":1}]`, `[{"nodeId":1,"azimuth":180,"radius":1},{"nodeId":1,"azimuth":90,"radius":1}]`, snapshot.DiffPath("/api/v1/mapdata/sectors/"))
	assert.True(t, sectors.Empty())
	assert.True(t, diff(t, `[]`, `[]`, id).Empty())
}

// Links repeat from+to and sectors repeat nodeId+azimuth in MeshDB's real map data: the
// entries under a key are a multiset, so equal copies never differ, and a change, an
// addition or a removal under a repeated key is reported as such.
func TestDiffRepeatedKeys(t *testing.T) {
	const (
		active    = `{"from":1,"to":2,"status":"Active","installDate":1500000000000}`
		activeFmt = `{ "installDate": 1500000000000, "to": 2, "status": "Active", "from": 1 }`
		inactive  = `{"from":1,"to":2,"status":"Inactive","installDate":1500000000000}`
		redated   = `{"from":1,"to":2,"status":"Active","installDate":1600000000000}`
		planned   = `{"from":1,"to":2,"status":"Planned"}`
		plannedN  = `{"from":1,"to":2,"status":"Planned","installDate":null}`
		other     = `{"from":2,"to":3,"status":"Active"}`
	)
	arr := func(es ...string) string { return "[" + strings.Join(es, ",") + "]" }
	type repeat = snapshot.Repeat
	cases := []struct {
		name, before, after string
		added, removed      []string // the entries, as JSON
		changed             []snapshot.FieldChange
		repeated            []repeat
	}{
		{name: "repeats on both sides, equal", before: arr(active, planned, other), after: arr(active, planned, other),
			repeated: []repeat{{"1|2", 2, 2}}},
		{name: "repeats on both sides, other order and format", before: arr(active, planned, other), after: arr(other, plannedN, activeFmt),
			repeated: []repeat{{"1|2", 2, 2}}},
		{name: "the same pair listed twice on both sides", before: arr(active, active, other), after: arr(activeFmt, other, active),
			repeated: []repeat{{"1|2", 2, 2}}},
		{name: "repeat on one side: a copy added", before: arr(active, other), after: arr(planned, other, active),
			added: []string{planned}, repeated: []repeat{{"1|2", 1, 2}}},
		{name: "repeat on one side: a copy removed", before: arr(planned, active, other), after: arr(other, active),
			removed: []string{planned}, repeated: []repeat{{"1|2", 2, 1}}},
		{name: "different counts of the same entry", before: arr(active, active), after: arr(active, active, active),
			added: []string{active}, repeated: []repeat{{"1|2", 2, 3}}},
		{name: "a change under a repeated key", before: arr(active, planned), after: arr(planned, inactive),
			changed: []snapshot.FieldChange{{Field: "status", Old: `"Active"`, New: `"Inactive"`}}, repeated: []repeat{{"1|2", 2, 2}}},
		{name: "a change the last entry would hide", before: arr(active, planned), after: arr(redated, planned),
			changed: []snapshot.FieldChange{{Field: "installDate", Old: "1500000000000", New: "1600000000000"}}, repeated: []repeat{{"1|2", 2, 2}}},
		{name: "a change and a removal under one key", before: arr(active, planned, planned), after: arr(planned, inactive),
			removed: []string{planned}, changed: []snapshot.FieldChange{{Field: "status", Old: `"Active"`, New: `"Inactive"`}}, repeated: []repeat{{"1|2", 3, 2}}},
		{name: "a change and an addition under one key", before: arr(active), after: arr(inactive, planned),
			added: []string{planned}, changed: []snapshot.FieldChange{{Field: "status", Old: `"Active"`, New: `"Inactive"`}}, repeated: []repeat{{"1|2", 1, 2}}},
		{name: "a repeated key that is new", before: arr(other), after: arr(other, active, planned),
			added: []string{active, planned}, repeated: []repeat{{"1|2", 0, 2}}},
		{name: "a repeated key that is gone", before: arr(active, planned, other), after: arr(other),
			removed: []string{active, planned}, repeated: []repeat{{"1|2", 2, 0}}},
	}
	links := snapshot.DiffPath("/api/v1/mapdata/links/")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := diff(t, tc.before, tc.after, links)
			entries := func(es []snapshot.Entry) []string {
				var out []string
				for _, e := range es {
					assert.Equal(t, "1|2", e.Key)
					out = append(out, e.JSON)
				}
				return out
			}
			assert.ElementsMatch(t, tc.added, entries(r.Added), "added")
			assert.ElementsMatch(t, tc.removed, entries(r.Removed), "removed")
			if tc.changed == nil {
				assert.Empty(t, r.Changed)
			} else if assert.Len(t, r.Changed, 1) {
				assert.Equal(t, "1|2", r.Changed[0].Key)
				assert.Equal(t, tc.changed, r.Changed[0].Fields)
			}
			assert.Equal(t, tc.repeated, r.Repeated)
			assert.Equal(t, len(tc.added)+len(tc.removed)+len(tc.changed) == 0, r.Empty())
			assert.Equal(t, r.Before-r.After, len(r.Removed)-len(r.Added), "every entry is matched, changed, added or removed")
		})
	}

	// An omni and a sector antenna on one node, both at azimuth 0, in either order.
	sectors := snapshot.DiffPath("/api/v1/mapdata/sectors/")
	omni, sector := `{"nodeId":7,"azimuth":0,"width":360,"radius":0.5}`, `{"nodeId":7,"azimuth":0,"width":90,"radius":2}`
	assert.True(t, diff(t, arr(omni, sector), arr(sector, omni), sectors).Empty())
	r := diff(t, arr(omni, sector), arr(sector, `{"nodeId":7,"azimuth":0,"width":360,"radius":0.75}`), sectors)
	require.Len(t, r.Changed, 1, "the omni changed, paired with the omni, not the sector antenna")
	assert.Equal(t, []snapshot.FieldChange{{Field: "radius", Old: "0.5", New: "0.75"}}, r.Changed[0].Fields)

	// The thread and the file say which copy, and how many there are.
	rep := snapshot.Report{Results: []snapshot.Result{diff(t, arr(active, planned, other), arr(other, active), links)}}
	assert.Equal(t, report.SnapshotDiffers{Endpoints: []report.DiffEndpoint{{Name: "nodes", Before: 3, After: 2, Removed: 1, Repeated: 1, Items: []report.DiffItem{
		{How: report.DiffRemoved, Key: "1|2", Repeat: &report.KeyRepeat{Before: 2, After: 1}, Entry: planned}}}}}, rep.Facts(5))
	assert.Contains(t, rep.Full(), "- 1|2 (2 entries before, 1 after) "+planned+"\n")
	assert.Contains(t, rep.Full(), "  repeated key 1|2: 2 entries before, 1 after\n")
	assert.False(t, rep.Empty())
}

func TestDiffRefusesMalformedInput(t *testing.T) {
	for _, bad := range []string{``, `{}`, `[{"id":1},`, `[1,2]`, `[{"id":1}] trailing`, `<html>302</html>`} {
		_, err := snapshot.Diff("nodes", strings.NewReader(`[]`), strings.NewReader(bad), id)
		assert.Error(t, err, "%q", bad)
	}
	_, err := snapshot.Diff("nodes", strings.NewReader(`[{"id":1},`), strings.NewReader(`[]`), id)
	assert.ErrorContains(t, err, "nodes (before)")
}

func FuzzDiff(f *testing.F) {
	f.Add(`[{"id":1}]`, `[{"id":1,"a":2}]`, false)
	f.Add(`[]`, `[{"from":1,"to":2}]`, true)
	f.Add(`[{"id":[1,{"x":null}]}]`, `[`, false)
	// Repeated keys on both sides, on one side, and with different counts.
	f.Add(`[{"from":1,"to":2,"status":"Active"},{"from":1,"to":2,"status":"Planned"}]`, `[{"to":2,"from":1,"status":"Planned"},{"from":1,"to":2,"status":"Active"}]`, true)
	f.Add(`[{"from":1,"to":2,"status":"Active"}]`, `[{"from":1,"to":2,"status":"Active"},{"from":1,"to":2,"status":"Active"}]`, true)
	f.Add(`[{"id":1},{"id":1},{"id":1,"n":2}]`, `[{"id":1,"n":3},{"id":1}]`, false)
	f.Fuzz(func(t *testing.T, a, b string, links bool) {
		k := id
		if links {
			k = snapshot.DiffPath("/api/v1/mapdata/links/")
		}
		r, err := snapshot.Diff("x", strings.NewReader(a), strings.NewReader(b), k)
		if err != nil {
			return
		}
		if a == b && !r.Empty() {
			t.Fatalf("identical input diffed non-empty: %q", a)
		}
		if r.Before-r.After != len(r.Removed)-len(r.Added) {
			t.Fatalf("%d before, %d after, but %d removed and %d added", r.Before, r.After, len(r.Removed), len(r.Added))
		}
		back, err := snapshot.Diff("x", strings.NewReader(b), strings.NewReader(a), k)
		if err != nil {
			t.Fatalf("diffs one way but not the other: %v", err)
		}
		if len(back.Added) != len(r.Removed) || len(back.Removed) != len(r.Added) || len(back.Changed) != len(r.Changed) {
			t.Fatalf("not symmetric: %+v against %+v", r, back)
		}
		// Order never matters, repeated keys included: a against itself reversed is empty.
		var entries []json.RawMessage
		if json.Unmarshal([]byte(a), &entries) != nil {
			return
		}
		rev := make([]string, len(entries))
		for i, e := range entries {
			rev[len(entries)-1-i] = string(e)
		}
		same, err := snapshot.Diff("x", strings.NewReader(a), strings.NewReader("["+strings.Join(rev, ",")+"]"), k)
		if err == nil && !same.Empty() {
			t.Fatalf("%q against itself reversed diffed non-empty: %s", a, snapshot.Report{Results: []snapshot.Result{same}}.Full())
		}
	})
}

type fakeDB struct {
	maintenance atomic.Bool
	nodes       atomic.Value
	links       atomic.Value
	sectors     atomic.Value
}

func (db *fakeDB) load(v *atomic.Value) []byte {
	if s, ok := v.Load().(string); ok {
		return []byte(s)
	}
	return []byte(`[]`)
}

func newMeshweb(t *testing.T, ca *meshwebfake.CA, db *fakeDB) *meshwebfake.Server {
	s, err := meshwebfake.Start(meshwebfake.Options{ServiceHost: "localhost", CA: ca, OtherNames: []string{"kubernetes-lb-prod-sn3.nycmesh.net"},
		Data: func(_ context.Context, kind string) ([]byte, error) {
			switch kind {
			case "nodes":
				return db.load(&db.nodes), nil
			case "links":
				return db.load(&db.links), nil
			case "sectors":
				return db.load(&db.sectors), nil
			}
			return nil, errors.New("no such kind")
		},
		Maintenance: func(context.Context) (bool, error) { return db.maintenance.Load(), nil }})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

var paths = []string{"/api/v1/mapdata/nodes/", "/api/v1/mapdata/links/", "/api/v1/mapdata/sectors/"}

func TestFetchPublicAndThroughTheLB(t *testing.T) {
	ca, err := meshwebfake.NewCA("test CA")
	require.NoError(t, err)
	origin, dest := &fakeDB{}, &fakeDB{}
	origin.nodes.Store(`[{"id":1,"status":"Active"},{"id":2}]`)
	dest.nodes.Store(`[{"id":2},{"id":1,"status":"Active"}]`)
	o, d := newMeshweb(t, ca, origin), newMeshweb(t, ca, dest)
	require.NoError(t, o.UseServiceCert(), "the origin is live with a valid certificate")
	_, port, _ := net.SplitHostPort(o.Addr())
	ctx := context.Background()

	// The public URL, verified against the CA.
	prior, err := snapshot.Fetch(ctx, snapshot.Target{ServiceURL: "https://localhost:" + port, Roots: ca.Pool()}, paths, t.TempDir())
	require.NoError(t, err)
	require.Len(t, prior.Files, 3)
	assert.Equal(t, 2, prior.Files[0].Entries)
	loaded, err := snapshot.Load(prior.Dir)
	require.NoError(t, err)
	assert.Equal(t, prior.Files, loaded.Files)

	// The destination's LB, keeping Host and SNI, whose certificate is not the service's yet.
	dlb := snapshot.Target{ServiceURL: "https://localhost:" + port, LBAddress: d.Addr(), Where: "prod1 LB " + d.Addr()}
	post, err := snapshot.Fetch(ctx, dlb, paths, t.TempDir())
	require.NoError(t, err)
	rep, err := snapshot.DiffSnapshots(prior, post)
	require.NoError(t, err)
	assert.True(t, rep.Empty(), rep.Full())

	dest.nodes.Store(`[{"id":2},{"id":1,"status":"Inactive"}]`)
	post, err = snapshot.Fetch(ctx, dlb, paths, t.TempDir())
	require.NoError(t, err)
	rep, err = snapshot.DiffSnapshots(prior, post)
	require.NoError(t, err)
	assert.False(t, rep.Empty())
	facts := rep.Facts(3)
	require.NotEmpty(t, facts.Endpoints)
	require.NotEmpty(t, facts.Endpoints[0].Items)
	assert.Contains(t, facts.Endpoints[0].Items[0].Fields, report.DiffField{Field: "status", Old: `"Active"`, New: `"Inactive"`})

	// Maintenance mode is reported as such, not as data.
	dest.maintenance.Store(true)
	_, err = snapshot.Fetch(ctx, dlb, paths, t.TempDir())
	require.ErrorIs(t, err, snapshot.ErrMaintenance)
	var f *report.Failed
	require.ErrorAs(t, err, &f)
	assert.Equal(t, report.SnapshotGet{How: report.SnapshotMaintenance, Path: paths[0], Where: "prod1 LB " + d.Addr(), Location: "/maintenance/"}, f.Facts)

	// A wrong Host is refused by meshweb, as Django's ALLOWED_HOSTS does.
	_, err = snapshot.Fetch(ctx, snapshot.Target{ServiceURL: "https://127.0.0.1:" + port, LBAddress: o.Addr()}, paths, t.TempDir())
	assert.ErrorContains(t, err, "400")

	// The public fetch does verify certificates: the destination's is not valid for the host.
	_, dport, _ := net.SplitHostPort(d.Addr())
	_, err = snapshot.Fetch(ctx, snapshot.Target{ServiceURL: "https://localhost:" + dport, Roots: ca.Pool()}, paths, t.TempDir())
	assert.ErrorContains(t, err, "certificate")
}

// keyCounts counts the entries under each key of a fetched endpoint.
func keyCounts(t *testing.T, file string, fields ...string) map[string]int {
	t.Helper()
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	var entries []map[string]any
	require.NoError(t, json.Unmarshal(raw, &entries))
	counts := map[string]int{}
	for _, e := range entries {
		var parts []string
		for _, f := range fields {
			parts = append(parts, fmt.Sprint(e[f]))
		}
		counts[strings.Join(parts, "|")]++
	}
	return counts
}

// The fake meshweb repeats link and sector keys as db.nycmesh.net does; two clusters
// holding the same rows diff empty however their copies are ordered, and a change under
// a repeated key is reported as one change.
func TestMeshwebRepeatsKeysAndEqualCopiesDiffEmpty(t *testing.T) {
	ca, err := meshwebfake.NewCA("test CA")
	require.NoError(t, err)
	origin, dest := &fakeDB{}, &fakeDB{}
	var links, sectors []string
	for i := range 20 {
		links = append(links, fmt.Sprintf(`{"from":%d,"to":%d,"status":"Active","installDate":%d}`, 100+i, 200+i, 1500000000000+i))
		sectors = append(sectors, fmt.Sprintf(`{"nodeId":%d,"radius":2,"azimuth":%d,"width":120,"status":"Active"}`, 100+i, 90+i))
	}
	for _, db := range []*fakeDB{origin, dest} {
		db.nodes.Store(`[{"id":1}]`)
		db.links.Store("[" + strings.Join(links, ",") + "]")
		db.sectors.Store("[" + strings.Join(sectors, ",") + "]")
	}
	o, d := newMeshweb(t, ca, origin), newMeshweb(t, ca, dest)
	_, port, _ := net.SplitHostPort(o.Addr())
	ctx := context.Background()
	fetch := func(lb string) snapshot.Snapshot {
		s, err := snapshot.Fetch(ctx, snapshot.Target{ServiceURL: "https://localhost:" + port, LBAddress: lb}, paths, t.TempDir())
		require.NoError(t, err)
		return s
	}
	prior := fetch(o.Addr())
	linkKeys := keyCounts(t, prior.Dir+"/links.json", "from", "to")
	assert.Equal(t, 2, linkKeys["100|200"], "an active and a planned link between the same nodes")
	assert.Equal(t, 2, linkKeys["110|210"], "the same pair listed twice")
	assert.Equal(t, 1, linkKeys["101|201"])
	sectorKeys := keyCounts(t, prior.Dir+"/sectors.json", "nodeId", "azimuth")
	assert.Equal(t, 2, sectorKeys["100|0"], "an omni and a sector antenna both at azimuth 0")

	for range 5 { // the copies' order is random: each round is another draw
		rep, err := snapshot.DiffSnapshots(prior, fetch(d.Addr()))
		require.NoError(t, err)
		require.True(t, rep.Empty(), rep.Full())
	}

	// A change in the database under a repeated key is one change, not a repeat.
	changed := append([]string(nil), links...)
	changed[0] = `{"from":100,"to":200,"status":"Inactive","installDate":1500000000000}`
	dest.links.Store("[" + strings.Join(changed, ",") + "]")
	rep, err := snapshot.DiffSnapshots(prior, fetch(d.Addr()))
	require.NoError(t, err)
	require.False(t, rep.Empty())
	assert.Contains(t, rep.Full(), `status: "Active" -> "Inactive"`)
	facts := rep.Facts(5)
	require.Len(t, facts.Endpoints, 3)
	assert.Equal(t, report.DiffEndpoint{Name: "links", Before: 22, After: 22, Changed: 1, Repeated: 2}, withoutItems(facts.Endpoints[1]))
}

// withoutItems is an endpoint's counts alone.
func withoutItems(e report.DiffEndpoint) report.DiffEndpoint {
	e.Items = nil
	return e
}
