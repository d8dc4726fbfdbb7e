package snapshot_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
		name, after                       string
		added, removed, changed, dupCount int
	}{
		{"identical", base, 0, 0, 0, 0},
		{"reordered and reformatted", `[ {"coordinates":[-73.9, 40.7, null],"id":1000001}, {"status":"Active","id":2}, {"status":"Active","name":"A","id":1} ]`, 0, 0, 0, 0},
		{"added", `[{"id":1,"name":"A","status":"Active"},{"id":2,"status":"Active"},{"id":1000001,"coordinates":[-73.9,40.7,null]},{"id":3}]`, 1, 0, 0, 0},
		{"removed", `[{"id":1,"name":"A","status":"Active"},{"id":1000001,"coordinates":[-73.9,40.7,null]}]`, 0, 1, 0, 0},
		{"changed", `[{"id":1,"name":"B","status":"Active"},{"id":2,"status":"Active"},{"id":1000001,"coordinates":[-73.9,40.7,null]}]`, 0, 0, 1, 0},
		{"absent equals null", `[{"id":1,"name":"A","status":"Active","notes":null},{"id":2,"status":"Active"},{"id":1000001,"coordinates":[-73.9,40.7,null]}]`, 0, 0, 0, 0},
		{"duplicate key", `[{"id":1,"name":"A","status":"Active"},{"id":1,"name":"A","status":"Active"},{"id":2,"status":"Active"},{"id":1000001,"coordinates":[-73.9,40.7,null]}]`, 0, 0, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := diff(t, base, tc.after, id)
			assert.Len(t, r.Added, tc.added)
			assert.Len(t, r.Removed, tc.removed)
			assert.Len(t, r.Changed, tc.changed)
			assert.Len(t, r.Duplicates, tc.dupCount)
			assert.Equal(t, tc.added+tc.removed+tc.changed+tc.dupCount == 0, r.Empty())
		})
	}
	r := diff(t, base, `[{"id":1,"name":"B","status":"Inactive"},{"id":2,"status":"Active"},{"id":1000001,"coordinates":[-73.9,40.7,null]}]`, id)
	require.Len(t, r.Changed, 1)
	assert.Equal(t, []snapshot.FieldChange{{Field: "name", Old: `"A"`, New: `"B"`}, {Field: "status", Old: `"Active"`, New: `"Inactive"`}}, r.Changed[0].Fields)
	rep := snapshot.Report{Results: []snapshot.Result{r}}
	assert.Contains(t, rep.Summary(5), `nodes: 3 before, 3 after, 0 added, 0 removed, 1 changed`)
	assert.Contains(t, rep.Summary(5), `• nodes 1: name "A" → "B", status "Active" → "Inactive"`)
	assert.Contains(t, rep.Full(), "~ 1\n    name: \"A\" -> \"B\"")

	links := diff(t, `[{"from":1,"to":2,"status":"Active"},{"from":2,"to":3,"status":"Active"}]`, `[{"from":2,"to":3,"status":"Active"},{"from":1,"to":2,"status":"Inactive"}]`, snapshot.DiffPath("/api/v1/mapdata/links/"))
	require.Len(t, links.Changed, 1)
	assert.Equal(t, "1|2", links.Changed[0].Key)
	sectors := diff(t, `[{"nodeId":1,"azimuth":90,"radius":1},{"nodeId":1,"azimuth":180,"radius":1}]`, `[{"nodeId":1,"azimuth":180,"radius":1},{"nodeId":1,"azimuth":90,"radius":1}]`, snapshot.DiffPath("/api/v1/mapdata/sectors/"))
	assert.True(t, sectors.Empty())
	assert.True(t, diff(t, `[]`, `[]`, id).Empty())
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
	f.Add(`[{"id":1}]`, `[{"id":1,"a":2}]`)
	f.Add(`[]`, `[{"from":1,"to":2}]`)
	f.Add(`[{"id":[1,{"x":null}]}]`, `[`)
	f.Fuzz(func(t *testing.T, a, b string) {
		r, err := snapshot.Diff("x", strings.NewReader(a), strings.NewReader(b), id)
		if err == nil && a == b && !r.Empty() && len(r.Duplicates) == 0 {
			t.Fatalf("identical input diffed non-empty: %q", a)
		}
	})
}

type fakeDB struct {
	maintenance atomic.Bool
	nodes       atomic.Value
}

func newMeshweb(t *testing.T, ca *meshwebfake.CA, db *fakeDB) *meshwebfake.Server {
	s, err := meshwebfake.Start(meshwebfake.Options{ServiceHost: "localhost", CA: ca, OtherNames: []string{"kubernetes-lb-prod-sn3.nycmesh.net"},
		Data: func(_ context.Context, kind string) ([]byte, error) {
			switch kind {
			case "nodes":
				return []byte(db.nodes.Load().(string)), nil
			case "links", "sectors":
				return []byte(`[]`), nil
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
	assert.Contains(t, rep.Summary(3), `status "Active" → "Inactive"`)

	// Maintenance mode is reported as such, not as data.
	dest.maintenance.Store(true)
	_, err = snapshot.Fetch(ctx, dlb, paths, t.TempDir())
	require.ErrorIs(t, err, snapshot.ErrMaintenance)
	assert.Contains(t, err.Error(), "maintenance mode is on at prod1 LB")

	// A wrong Host is refused by meshweb, as Django's ALLOWED_HOSTS does.
	_, err = snapshot.Fetch(ctx, snapshot.Target{ServiceURL: "https://127.0.0.1:" + port, LBAddress: o.Addr()}, paths, t.TempDir())
	assert.ErrorContains(t, err, "400")

	// The public fetch does verify certificates: the destination's is not valid for the host.
	_, dport, _ := net.SplitHostPort(d.Addr())
	_, err = snapshot.Fetch(ctx, snapshot.Target{ServiceURL: "https://localhost:" + dport, Roots: ca.Pool()}, paths, t.TempDir())
	assert.ErrorContains(t, err, "certificate")
}
