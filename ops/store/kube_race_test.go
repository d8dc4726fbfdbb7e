package store_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/nycmeshnet/cutoverbot/ops/kube/kubefake"
)

// raceFirst lets another writer in before the first request that matches (and logs the
// methods of those that match), as another replica writing the same record between
// this one's read and its write would.
type raceFirst struct {
	next  http.RoundTripper
	mu    sync.Mutex
	match func(*http.Request) bool
	race  func()
	seen  []string
}

func (r *raceFirst) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	if r.match != nil && r.match(req) {
		r.seen = append(r.seen, req.Method)
		if len(r.seen) == 1 {
			r.race()
		}
	}
	r.mu.Unlock()
	return r.next.RoundTrip(req)
}

// arm makes the next matching request race; the log of matching requests restarts.
func (r *raceFirst) arm(match func(*http.Request) bool, race func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.match, r.race, r.seen = match, race, nil
}

func (r *raceFirst) methods() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

// Two replicas write one schedule record at once: the last writer wins, and a write
// that finds the record changed (409 Conflict) or created (409 AlreadyExists) after it
// looked reads again and writes over it, rather than failing.
func TestKubePutValueWinsARaceWithAnotherReplica(t *testing.T) {
	_, path := kubefake.StartForTest(t, kubefake.Options{}, "home")
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	require.NoError(t, err)
	plain, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	racer := &raceFirst{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { racer.next = rt; return racer })
	raced, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	other, mine := openKube(t, plain, "cutoverbot"), openKube(t, raced, "cutoverbot")

	writes := func(r *http.Request) bool {
		return (r.Method == http.MethodPost || r.Method == http.MethodPut) && strings.Contains(r.URL.Path, "/configmaps")
	}
	read := func(key string) string {
		var got string
		require.NoError(t, other.Values(context.Background(), key, func(_ string, raw []byte) error { got = string(raw); return nil }))
		return got
	}

	// The other replica creates the record between this one's "not found" and its create.
	racer.arm(writes, func() { require.NoError(t, other.PutValue(context.Background(), "schedule/a", "theirs")) })
	require.NoError(t, mine.PutValue(context.Background(), "schedule/a", "mine"))
	assert.Equal(t, `"mine"`, read("schedule/a"))
	assert.Equal(t, []string{http.MethodPost, http.MethodPut}, racer.methods(), "the create lost, then an update won")

	// The other replica updates the record between this one's read and its update.
	racer.arm(writes, func() { require.NoError(t, other.PutValue(context.Background(), "schedule/a", "theirs again")) })
	require.NoError(t, mine.PutValue(context.Background(), "schedule/a", "mine again"))
	assert.Equal(t, `"mine again"`, read("schedule/a"))
	assert.Equal(t, []string{http.MethodPut, http.MethodPut}, racer.methods(), "one update refused with 409, one after reading again")
}
