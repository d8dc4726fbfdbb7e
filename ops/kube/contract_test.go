package kube_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/nycmeshnet/cutoverbot/ops/kube"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// Contract tests: each runs against kubefake and, with a real control plane enabled
// (`make e2e-kube`), against a real API server as the bot's ServiceAccount.

func TestContractFindPod(t *testing.T) {
	web := map[string]string{"app": "meshdb-meshweb-app"}
	type pod struct {
		name       string
		labels     map[string]string
		containers map[string]string
		ready      bool
		phase      corev1.PodPhase
	}
	// Pods are added oldest first. Names sort against age, so a tie broken by name would
	// pick another pod than the newest.
	cases := []struct {
		name string
		pods []pod
		want string // pod name, or "" for ErrNoPod
	}{
		{"newest ready wins", []pod{
			{"web-c", web, map[string]string{"meshdb-meshweb": "x@sha256:01"}, true, ""},
			{"web-b", web, map[string]string{"meshdb-meshweb": "x@sha256:02"}, true, ""},
			{"web-a", web, map[string]string{"meshdb-meshweb": "x@sha256:03"}, true, ""},
		}, "web-a"},
		{"not ready is skipped", []pod{
			{"web-b", web, map[string]string{"meshdb-meshweb": "x@sha256:01"}, true, ""},
			{"web-a", web, map[string]string{"meshdb-meshweb": "x@sha256:02"}, false, ""},
		}, "web-b"},
		{"not running is skipped", []pod{
			{"web-b", web, map[string]string{"meshdb-meshweb": "x@sha256:01"}, true, ""},
			{"web-a", web, map[string]string{"meshdb-meshweb": "x@sha256:02"}, true, corev1.PodFailed},
		}, "web-b"},
		{"wrong container is skipped", []pod{
			{"web-b", web, map[string]string{"meshdb-meshweb": "x@sha256:01"}, true, ""},
			{"web-a", web, map[string]string{"sidecar": "x@sha256:02"}, true, ""},
		}, "web-b"},
		{"pending is skipped", []pod{
			{"web-b", web, map[string]string{"meshdb-meshweb": "x@sha256:01"}, true, ""},
			{"web-a", web, map[string]string{"meshdb-meshweb": "x@sha256:02"}, true, corev1.PodPending},
		}, "web-b"},
		{"other labels are ignored", []pod{
			{"pg-1", map[string]string{"app": "meshdb-postgres-app"}, map[string]string{"meshdb-meshweb": "x@sha256:01"}, true, ""},
		}, ""},
		{"none ready", []pod{
			{"web-b", web, map[string]string{"meshdb-meshweb": "x@sha256:01"}, false, ""},
			{"web-a", web, map[string]string{"meshdb-meshweb": "x@sha256:01"}, true, corev1.PodFailed},
		}, ""},
	}
	eachBackend(t, backendOptions{}, func(t *testing.T, b backend) {
		c := b.connect(t)
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				// Each case has labels of its own, on one server per backend.
				sel := fmt.Sprintf("case=c%d", i)
				for _, p := range tc.pods {
					labels := map[string]string{"case": fmt.Sprintf("c%d", i)}
					for k, v := range p.labels {
						labels[k] = v
					}
					b.addPod(t, fmt.Sprintf("c%d-%s", i, p.name), labels, p.containers, p.ready)
					if p.phase != "" {
						b.setPodPhase(t, fmt.Sprintf("c%d-%s", i, p.name), p.phase)
					}
				}
				got, err := c.FindPod(context.Background(), sel+",app=meshdb-meshweb-app", "meshdb-meshweb")
				if tc.want == "" {
					require.ErrorIs(t, err, kube.ErrNoPod)
					np, ok := failure(t, err).Facts.(report.NoPod)
					require.True(t, ok, "%v", err)
					assert.Equal(t, report.NoPod{Cluster: "prod1", Namespace: c.Namespace(), Selector: sel + ",app=meshdb-meshweb-app", Container: "meshdb-meshweb", Matched: np.Matched}, np)
					return
				}
				require.NoError(t, err)
				assert.Equal(t, fmt.Sprintf("c%d-%s", i, tc.want), got.Name)
				assert.Contains(t, got.Containers, "meshdb-meshweb")
				assert.False(t, got.Created.IsZero())
			})
		}
	})
}

func TestContractReadinessAndImageDigest(t *testing.T) {
	const digest = "docker.io/nycmeshnet/meshdb@sha256:4b825dc642cb6eb9a060e54bf8d69288fbee4904"
	eachBackend(t, backendOptions{}, func(t *testing.T, b backend) {
		c := b.connect(t)
		ctx := context.Background()
		b.addPod(t, "pg-0", map[string]string{"app": "meshdb-postgres-app", "tier": "db"},
			map[string]string{"meshdb-postgres": "docker.io/library/postgres@sha256:15"}, false)
		_, err := c.FindPod(ctx, "app in (meshdb-postgres-app),tier!=web", "meshdb-postgres")
		require.ErrorIs(t, err, kube.ErrNoPod)
		assert.Equal(t, report.NoPod{Cluster: "prod1", Namespace: c.Namespace(), Selector: "app in (meshdb-postgres-app),tier!=web", Container: "meshdb-postgres", Matched: 1},
			failure(t, err).Facts, "one pod matches the selector, none is ready")
		b.setPodReady(t, "pg-0", true)
		p, err := c.FindPod(ctx, "app in (meshdb-postgres-app),tier!=web", "meshdb-postgres")
		require.NoError(t, err)
		assert.Equal(t, "pg-0", p.Name)

		// A runtime prefix on the image ID is dropped.
		b.addPod(t, "web-0", map[string]string{"app": "web"}, map[string]string{"meshdb-meshweb": "docker-pullable://" + digest}, true)
		got, err := c.ImageDigest(ctx, "app=web", "meshdb-meshweb")
		require.NoError(t, err)
		assert.Equal(t, digest, got)
	})
}

func TestContractScale(t *testing.T) {
	eachBackend(t, backendOptions{}, func(t *testing.T, b backend) {
		c := b.connect(t)
		for _, kind := range []kube.Workload{kube.StatefulSet, kube.Deployment} {
			t.Run(string(kind), func(t *testing.T) {
				name := "celery-" + string(kind)
				b.addWorkload(t, kind, name, 3, map[string]string{"app": name})
				var mu sync.Mutex
				var msgs []kube.ScaleProgress
				progress := func(p kube.ScaleProgress) { mu.Lock(); defer mu.Unlock(); msgs = append(msgs, p) }

				history := b.watchStatus(t, kind, name)
				prev, err := c.Scale(context.Background(), kind, name, 0, 2*time.Minute, progress)
				require.NoError(t, err)
				assert.Equal(t, int32(3), prev)
				assert.Equal(t, int32(0), b.specReplicas(t, kind, name))
				spec, status, err := c.Replicas(context.Background(), kind, name)
				require.NoError(t, err)
				assert.Equal(t, [2]int32{0, 0}, [2]int32{spec, status})
				t.Logf("progress: %+v", msgs)
				require.NotEmpty(t, msgs)
				assert.Equal(t, kube.ScaleProgress{Previous: 3, Want: 0, Status: 3}, msgs[0], "the wait reports the state it starts from")
				assert.Equal(t, kube.ScaleProgress{Previous: 3, Want: 0, Status: 0}, msgs[len(msgs)-1])
				last := int32(4)
				for _, m := range msgs {
					assert.Equal(t, [2]int32{3, 0}, [2]int32{m.Previous, m.Want}, "%+v", msgs)
					assert.Less(t, m.Status, last, "status only goes down: %+v", msgs)
					last = m.Status
				}
				if kind == kube.StatefulSet {
					// The wait may miss a count between two reads; a watch sees every one.
					require.Eventually(t, func() bool { h := history(); return len(h) > 0 && h[len(h)-1] == 0 },
						10*time.Second, 10*time.Millisecond, "the watch sees the last change: %v", history())
					assert.Equal(t, []int32{3, 2, 1, 0}, history(), "the StatefulSet controller removes one pod at a time")
				}

				prev, err = c.Scale(context.Background(), kind, name, 2, 2*time.Minute, nil)
				require.NoError(t, err)
				assert.Equal(t, int32(0), prev)
				_, status, err = c.Replicas(context.Background(), kind, name)
				require.NoError(t, err)
				assert.Equal(t, int32(2), status)
			})
		}
		_, err := c.Scale(context.Background(), kube.Deployment, "meshweb", 0, time.Second, nil)
		require.ErrorIs(t, err, kube.ErrNotFound)
		assert.Equal(t, report.WorkloadNotFound{Cluster: "prod1", Namespace: c.Namespace(), Kind: "deployment", Name: "meshweb"}, failure(t, err).Facts)
	})
}

// A StatefulSet whose pods never start: the wait ends and says where it stood.
func TestContractScaleTimeoutNamesTheState(t *testing.T) {
	eachBackend(t, backendOptions{stuckWorkloads: true}, func(t *testing.T, b backend) {
		c := b.connect(t)
		b.addWorkload(t, kube.StatefulSet, "celery", 1, map[string]string{"app": "celery"})
		prev, err := c.Scale(context.Background(), kube.StatefulSet, "celery", 3, time.Second, nil)
		require.Error(t, err)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, int32(1), prev)
		assert.Equal(t, report.ScaleFailed{How: report.ScaleStuck, Cluster: "prod1", Namespace: c.Namespace(), Kind: "statefulset", Name: "celery",
			Previous: 1, Replicas: 3, Status: 1, Timeout: time.Second}, failure(t, err).Facts)
		assert.Equal(t, int32(3), b.specReplicas(t, kube.StatefulSet, "celery"))
	})
}

// The bot's identity holds exactly the plan's permissions; each one taken away is named by
// the access review and refused by the API server.
func TestContractPermissions(t *testing.T) {
	want := append(append([]kube.Access(nil), kube.PlanAccess...), kube.AnnotateAccess(kube.StatefulSet, "meshdb-celery-worker"))
	for _, a := range want {
		t.Run(a.String(), func(t *testing.T) {
			eachBackend(t, backendOptions{}, func(t *testing.T, b backend) {
				c := b.connect(t)
				missing, err := c.Missing(context.Background(), want)
				require.NoError(t, err)
				require.Empty(t, missing, "deploy/target-cluster/rbac.yaml grants the plan's permissions")
				b.deny(t, a)
				missing, err = c.Missing(context.Background(), want)
				require.NoError(t, err)
				assert.Equal(t, []kube.Access{a}, missing)
			})
		})
	}
}

func TestContractForbiddenAndUnauthorized(t *testing.T) {
	eachBackend(t, backendOptions{}, func(t *testing.T, b backend) {
		c := b.connect(t)
		ctx := context.Background()
		require.NoError(t, c.Ping(ctx))
		b.addWorkload(t, kube.StatefulSet, "celery", 1, map[string]string{"app": "celery"})
		b.addPod(t, "pg-0", map[string]string{"app": "pg"}, map[string]string{"postgres": "postgres@sha256:15"}, true)
		b.setExec(func(context.Context, []string, io.Reader, io.Writer, io.Writer) (int, error) { return 0, nil })

		b.deny(t, kube.Access{Verb: "get", Group: "apps", Resource: "statefulsets"})
		err := c.WorkloadExists(ctx, kube.StatefulSet, "celery")
		require.Error(t, err)
		assert.Equal(t, report.WorkloadCall{Of: report.WorkloadGet, Cluster: "prod1", Namespace: c.Namespace(), Kind: "statefulset", Name: "celery"}, failure(t, err).Facts)
		assert.Equal(t, report.APIRefused{Code: 403}, failure(t, failure(t, err).Err).Facts, "what to check is said")
		assert.NotErrorIs(t, err, kube.ErrNotFound)

		b.deny(t, kube.Access{Verb: "create", Resource: "pods", Subresource: "exec"})
		err = c.Exec(ctx, "pg-0", "postgres", []string{"true"}, nil, nil, nil)
		require.Error(t, err)
		assert.Contains(t, strings.ToLower(err.Error()), "forbidden")
		assert.Equal(t, report.APIRefused{Code: 403}, failure(t, failure(t, err).Err).Facts, "what to check is said, over SPDY too")
		assert.Zero(t, b.execCount(), "a forbidden exec never reaches the node")

		bad := b.connectWithToken(t, "not-a-token")
		err = bad.Ping(ctx)
		require.Error(t, err)
		assert.Equal(t, report.APIRefused{Code: 401}, failure(t, failure(t, err).Err).Facts, "what to check is said")
		err = bad.Exec(ctx, "pg-0", "postgres", []string{"true"}, nil, nil, nil)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "Unauthorized")
		assert.Equal(t, report.APIRefused{Code: 401}, failure(t, failure(t, err).Err).Facts, "what to check is said, over SPDY too")
	})
}

// A pod found ready may have ended by the time the command is sent: the node refuses it.
func TestContractExecIntoAnEndedPod(t *testing.T) {
	eachBackend(t, backendOptions{}, func(t *testing.T, b backend) {
		c := b.connect(t)
		b.addPod(t, "pg-0", map[string]string{"app": "pg"}, map[string]string{"postgres": "postgres@sha256:15"}, true)
		b.setExec(func(context.Context, []string, io.Reader, io.Writer, io.Writer) (int, error) { return 0, nil })
		require.NoError(t, c.Exec(context.Background(), "pg-0", "postgres", []string{"true"}, nil, nil, nil))
		b.setPodPhase(t, "pg-0", corev1.PodFailed)
		err := c.Exec(context.Background(), "pg-0", "postgres", []string{"true"}, nil, nil, nil)
		require.Error(t, err)
		t.Logf("exec into an ended pod: %v", err)
		assert.Contains(t, err.Error(), "container postgres is in CONTAINER_EXITED state")
		assert.Equal(t, 1, b.execCount(), "only the first command ran")
	})
}

func TestContractExec(t *testing.T) {
	input := make([]byte, 5<<20+123)
	_, err := rand.Read(input)
	require.NoError(t, err)
	want := sha256.Sum256(input)
	stderrText := strings.Repeat("noise\n", 500) + "pg_dump: error: connection refused\n"

	for _, tr := range []struct {
		name string
		opts backendOptions
	}{{"websocket", backendOptions{}}, {"spdy fallback", backendOptions{noWebSocket: true}}} {
		t.Run(tr.name, func(t *testing.T) {
			eachBackend(t, tr.opts, func(t *testing.T, b backend) {
				c := b.connect(t)
				ctx := context.Background()
				b.addPod(t, "pg-0", map[string]string{"app": "pg"}, map[string]string{"postgres": "postgres@sha256:15", "exporter": "exp@sha256:1"}, true)
				b.setExec(func(_ context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
					switch argv[0] {
					case "cat":
						_, err := io.Copy(stdout, stdin)
						return 0, err
					case "count":
						n, err := io.Copy(io.Discard, stdin)
						fmt.Fprintf(stdout, "stdin=%d err=%v", n, err)
						return 0, nil
					case "fail":
						io.WriteString(stderr, stderrText)
						io.WriteString(stdout, "partial")
						return 3, nil
					case "explode":
						return 0, errors.New("container runtime exploded")
					}
					return 127, nil
				})

				h := sha256.New()
				require.NoError(t, c.Exec(ctx, "pg-0", "postgres", []string{"cat"}, bytes.NewReader(input), h, nil))
				assert.Equal(t, want[:], h.Sum(nil), "stdin arrives whole and ends")

				var out bytes.Buffer
				require.NoError(t, c.Exec(ctx, "pg-0", "postgres", []string{"count"}, nil, &out, nil))
				assert.Equal(t, "stdin=0 err=<nil>", out.String(), "no stdin is an empty one")

				var stdout, stderr bytes.Buffer
				err := c.Exec(ctx, "pg-0", "postgres", []string{"fail", "-Fc", "mesh db"}, nil, &stdout, &stderr)
				exit, ok := failure(t, err).Facts.(report.ExitCode)
				require.True(t, ok, "%v", err)
				assert.Equal(t, 3, exit.Code)
				assert.True(t, strings.HasSuffix(exit.Stderr, "pg_dump: error: connection refused"))
				assert.Equal(t, stderrText, stderr.String())
				assert.Equal(t, "partial", stdout.String())

				err = c.Exec(ctx, "pg-0", "postgres", []string{"explode"}, nil, nil, nil)
				require.Error(t, err)
				_, isExit := failure(t, err).Facts.(report.ExitCode)
				assert.False(t, isExit, "a runtime error is not an exit status")
				assert.ErrorContains(t, failure(t, err).Err, "container runtime exploded")

				execs := b.execCount()
				err = c.Exec(ctx, "pg-9", "postgres", []string{"true"}, nil, nil, nil)
				require.Error(t, err)
				assert.ErrorContains(t, failure(t, err).Err, `pods "pg-9" not found`)
				err = c.Exec(ctx, "pg-0", "nope", []string{"true"}, nil, nil, nil)
				require.Error(t, err)
				assert.Contains(t, err.Error(), "container nope is not valid for pod pg-0")
				assert.Equal(t, execs, b.execCount(), "refused execs never reach the node")
			})
		})
	}
}
