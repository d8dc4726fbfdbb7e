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
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/kube"
	"github.com/nycmeshnet/cutoverbot/ops/kube/kubefake"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// transports are the two ways exec reaches the server: WebSocket (v5), and SPDY when the
// server refuses the WebSocket upgrade and the client falls back.
var transports = []struct {
	name         string
	disableWS    bool
	wantProtocol string
}{
	{kubefake.TransportWebSocket, false, "v5.channel.k8s.io"},
	{kubefake.TransportSPDY, true, "v4.channel.k8s.io"},
}

// execCluster is a cluster with one ready pod "pg-0" with container "postgres".
func execCluster(t testing.TB, disableWS bool, h kubefake.ExecHandler) (*kubefake.Server, *kube.Cluster) {
	t.Helper()
	srv, c := startCluster(t, kubefake.Options{})
	srv.AddPod(ns, "pg-0", map[string]string{"app": "pg"}, map[string]string{"postgres": "postgres@sha256:15", "exporter": "exp@sha256:1"}, true, time.Time{})
	srv.DisableWebSocketExec(disableWS)
	srv.SetExecHandler(h)
	return srv, c
}

// catHandler copies stdin to stdout, like `sh -c cat`.
func catHandler(_ context.Context, req kubefake.ExecRequest) (int, error) {
	if _, err := io.Copy(req.Stdout, req.Stdin); err != nil {
		return 0, err
	}
	return 0, nil
}

func TestExecStreamsStdinThroughBothTransports(t *testing.T) {
	input := make([]byte, 5<<20+123)
	_, err := rand.Read(input)
	require.NoError(t, err)
	want := sha256.Sum256(input)

	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			srv, c := execCluster(t, tr.disableWS, catHandler)
			h := sha256.New()
			n := &countingWriter{w: h}

			err := c.Exec(context.Background(), "pg-0", "postgres", []string{"sh", "-c", "cat"}, bytes.NewReader(input), n, nil)
			require.NoError(t, err)
			assert.Equal(t, int64(len(input)), n.n.Load())
			assert.Equal(t, want[:], h.Sum(nil))

			last := srv.LastExec()
			assert.Equal(t, tr.name, last.Transport, "transport the server saw")
			assert.Equal(t, tr.wantProtocol, last.Protocol)
			assert.Equal(t, []string{"sh", "-c", "cat"}, last.Command)
			assert.Equal(t, "postgres", last.Container)
			assert.Equal(t, 1, srv.ExecCount())
		})
	}
}

func TestExecWithoutStdinSeesEOF(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			_, c := execCluster(t, tr.disableWS, func(_ context.Context, req kubefake.ExecRequest) (int, error) {
				b, err := io.ReadAll(req.Stdin)
				fmt.Fprintf(req.Stdout, "stdin=%d err=%v", len(b), err)
				return 0, nil
			})
			var out bytes.Buffer
			require.NoError(t, c.Exec(context.Background(), "pg-0", "postgres", []string{"psql"}, nil, &out, nil))
			assert.Equal(t, "stdin=0 err=<nil>", out.String())
		})
	}
}

func TestExecNonZeroExitKeepsStderrTail(t *testing.T) {
	// 3 KB of stderr: the ExitCode failure keeps the last 2 KB, the caller's writer gets all of it.
	stderrText := strings.Repeat("noise\n", 500) + "pg_dump: error: connection refused\n"
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			_, c := execCluster(t, tr.disableWS, func(_ context.Context, req kubefake.ExecRequest) (int, error) {
				io.WriteString(req.Stderr, stderrText)
				io.WriteString(req.Stdout, "partial")
				return 3, nil
			})
			var stdout, stderr bytes.Buffer
			err := c.Exec(context.Background(), "pg-0", "postgres", []string{"pg_dump", "-Fc", "mesh db"}, nil, &stdout, &stderr)

			f := failure(t, err)
			exit, ok := f.Facts.(report.ExitCode)
			require.True(t, ok, "%v", err)
			assert.NoError(t, f.Err, "the exit code says it all")
			assert.LessOrEqual(t, len(exit.Stderr), 2048+3)
			assert.True(t, strings.HasPrefix(exit.Stderr, "..."), "the start of stderr is cut")
			assert.True(t, strings.HasSuffix(exit.Stderr, "pg_dump: error: connection refused"))
			exit.Stderr = ""
			assert.Equal(t, report.ExitCode{Cluster: "prod1", Namespace: ns, Pod: "pg-0", Container: "postgres", Command: `pg_dump -Fc "mesh db"`, Code: 3}, exit)
			assert.Equal(t, stderrText, stderr.String())
			assert.Equal(t, "partial", stdout.String())
		})
	}
}

func TestExecHandlerErrorIsNotAnExitCode(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			_, c := execCluster(t, tr.disableWS, func(context.Context, kubefake.ExecRequest) (int, error) {
				return 0, errors.New("container runtime exploded")
			})
			err := c.Exec(context.Background(), "pg-0", "postgres", []string{"true"}, nil, nil, nil)
			f := failure(t, err)
			assert.Equal(t, report.ExecFailed{Cluster: "prod1", Namespace: ns, Pod: "pg-0", Container: "postgres", Command: "true"}, f.Facts, "not an exit status")
			assert.ErrorContains(t, f.Err, "container runtime exploded")
		})
	}
}

func TestExecRefusals(t *testing.T) {
	cases := []struct {
		name, pod, container, want string
		gone                       bool
	}{
		{"unknown pod", "pg-9", "postgres", "not found", true},
		{"unknown container", "pg-0", "nope", "container nope is not valid for pod pg-0", false},
	}
	for _, tc := range cases {
		for _, tr := range transports {
			t.Run(tc.name+"/"+tr.name, func(t *testing.T) {
				srv, c := execCluster(t, tr.disableWS, catHandler)
				err := c.Exec(context.Background(), tc.pod, tc.container, []string{"true"}, nil, nil, nil)
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.want)
				// A pod that is gone is known by its 404, not by the error's words.
				assert.Equal(t, tc.gone, errors.Is(err, kube.ErrNotFound), "%v", err)
				assert.Equal(t, report.ExecFailed{Cluster: "prod1", Namespace: ns, Pod: tc.pod, Container: tc.container, Command: "true"}, failure(t, err).Facts)
				assert.Zero(t, srv.ExecCount())
			})
		}
	}
}

func TestExecContextCancelEndsStream(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			var handlerDone atomic.Bool
			_, c := execCluster(t, tr.disableWS, func(ctx context.Context, req kubefake.ExecRequest) (int, error) {
				defer handlerDone.Store(true)
				chunk := bytes.Repeat([]byte("x"), 32<<10)
				for ctx.Err() == nil {
					if _, err := req.Stdout.Write(chunk); err != nil {
						return 0, err
					}
				}
				return 0, ctx.Err()
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			out := &countingWriter{w: io.Discard, after: 1 << 20, hook: cancel}

			err := c.Exec(ctx, "pg-0", "postgres", []string{"yes"}, nil, out, nil)
			require.ErrorIs(t, err, context.Canceled)
			assert.GreaterOrEqual(t, out.n.Load(), int64(1<<20))
			require.Eventually(t, handlerDone.Load, 10*time.Second, 10*time.Millisecond, "server-side command still running")
		})
	}
}

func TestExecStreamCutSurfacesAnError(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			srv, c := execCluster(t, tr.disableWS, func(_ context.Context, req kubefake.ExecRequest) (int, error) {
				chunk := bytes.Repeat([]byte("y"), 32<<10)
				for range 256 { // 8 MB
					if _, err := req.Stdout.Write(chunk); err != nil {
						return 0, err
					}
				}
				return 0, nil
			})
			srv.FailExecAfterBytes(1 << 20)
			out := &countingWriter{w: io.Discard}
			err := c.Exec(context.Background(), "pg-0", "postgres", []string{"pg_dump"}, nil, out, nil)
			require.Error(t, err, "a stream cut after %d bytes must not look like success", out.n.Load())
			assert.Equal(t, report.ExecFailed{Cluster: "prod1", Namespace: ns, Pod: "pg-0", Container: "postgres", Command: "pg_dump"}, failure(t, err).Facts)
			if tr.disableWS {
				// client-go alone would report this SPDY stream as a success.
				assert.ErrorIs(t, err, kube.ErrNoExitStatus)
			}
			assert.Less(t, out.n.Load(), int64(8<<20))
		})
	}
}

func TestExecEndsWhenServerBecomesUnreachable(t *testing.T) {
	started := make(chan struct{})
	srv, c := execCluster(t, false, func(ctx context.Context, req kubefake.ExecRequest) (int, error) {
		close(started)
		<-ctx.Done()
		return 0, ctx.Err()
	})
	errc := make(chan error, 1)
	go func() {
		errc <- c.Exec(context.Background(), "pg-0", "postgres", []string{"sleep", "inf"}, nil, nil, nil)
	}()
	<-started
	srv.SetReachable(false)
	select {
	case err := <-errc:
		assert.Error(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("exec did not end after the server became unreachable")
	}
}

// countingWriter counts bytes and calls hook once after `after` bytes.
type countingWriter struct {
	w     io.Writer
	n     atomic.Int64
	after int64
	hook  func()
	fired atomic.Bool
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if total := c.n.Add(int64(n)); c.hook != nil && total >= c.after && c.fired.CompareAndSwap(false, true) {
		c.hook()
	}
	return n, err
}

// BenchmarkExecStream pushes 64 MB through exec stdin and back out of stdout, per transport.
// Run briefly: go test -run '^$' -bench ExecStream -benchtime 1x ./ops/kube/
func BenchmarkExecStream(b *testing.B) {
	const size = 64 << 20
	for _, tr := range transports {
		b.Run(tr.name, func(b *testing.B) {
			_, c := execCluster(b, tr.disableWS, catHandler)
			b.SetBytes(size)
			for b.Loop() {
				out := &countingWriter{w: io.Discard}
				err := c.Exec(context.Background(), "pg-0", "postgres", []string{"cat"}, io.LimitReader(zeroReader{}, size), out, nil)
				if err != nil {
					b.Fatal(err)
				}
				if out.n.Load() != size {
					b.Fatalf("got %d bytes back, want %d", out.n.Load(), size)
				}
			}
		})
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// As on a real node, a command outlives a client that goes away: its stream breaks
// (writes fail, stdin ends) but it runs to its end unless it writes. The WebSocket
// client closes its connection when its context ends; client-go's SPDY client keeps it
// open until its streams end, so there the API endpoint going away cuts it.
func TestExecOutlivesItsClient(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			release := make(chan struct{})
			type outcome struct {
				ctxErr   error
				writeErr error
			}
			got := make(chan outcome, 1)
			started := make(chan struct{})
			srv, c := execCluster(t, tr.disableWS, func(ctx context.Context, req kubefake.ExecRequest) (int, error) {
				close(started)
				<-req.Disconnected
				<-release
				_, werr := req.Stdout.Write([]byte("late output"))
				got <- outcome{ctxErr: ctx.Err(), writeErr: werr}
				return 0, nil
			})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- c.Exec(ctx, "pg-0", "postgres", []string{"pg_restore", "/tmp/x.dump"}, nil, io.Discard, nil)
			}()
			<-started
			cancel()
			if tr.disableWS {
				srv.SetReachable(false)
			}
			require.Error(t, <-done, "the client gives up")
			assert.Equal(t, 1, srv.RunningExecs(), "the command still runs in the pod")
			close(release)
			o := <-got
			assert.NoError(t, o.ctxErr, "nothing ended the command's context")
			assert.ErrorIs(t, o.writeErr, kubefake.ErrBrokenPipe, "a write after the client left fails")
		})
	}
}

// A command still running when the server closes (its node goes) is ended.
func TestExecEndsWithTheServer(t *testing.T) {
	ended := make(chan struct{})
	started := make(chan struct{})
	srv, c := execCluster(t, false, func(ctx context.Context, req kubefake.ExecRequest) (int, error) {
		close(started)
		<-ctx.Done()
		close(ended)
		return 137, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = c.Exec(ctx, "pg-0", "postgres", []string{"sleep", "1000"}, nil, io.Discard, nil) }()
	<-started
	cancel()
	srv.KillExecs()
	<-ended
}
