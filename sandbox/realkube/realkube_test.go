package realkube_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"

	"github.com/nycmeshnet/cutoverbot/sandbox/realkube"
)

const ns = "exec-test"

// startCluster starts a control plane whose pods run commands on this machine, with one
// ready pod "box" (container "main").
func startCluster(t *testing.T) *realkube.Cluster {
	t.Helper()
	bins := realkube.Require(t)
	ctx := context.Background()
	c, err := realkube.Start(ctx, bins, realkube.Options{Dir: t.TempDir(), Exec: realkube.LocalExec})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	require.NoError(t, c.EnsureNamespace(ctx, ns, nil))
	_, err = c.CreatePod(ctx, ns, "box", map[string]string{"app": "box"}, map[string]string{"main": "docker.io/library/busybox@sha256:0123"})
	require.NoError(t, err)
	require.NoError(t, c.WaitPods(ctx, ns, "app=box", 1, time.Minute))
	return c
}

var transports = []string{"websocket", "spdy"}

// stream runs argv in box/main through the API server with client-go's executor for the
// transport: WebSocket offers only v5.channel.k8s.io, SPDY settles on v4.
func stream(ctx context.Context, t *testing.T, c *realkube.Cluster, transport string, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	t.Helper()
	req := c.Admin.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name("box").SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: "main", Command: argv, Stdin: stdin != nil, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	var (
		ex  remotecommand.Executor
		err error
	)
	if transport == "websocket" {
		ex, err = remotecommand.NewWebSocketExecutor(c.AdminREST(), "GET", req.URL().String())
	} else {
		ex, err = remotecommand.NewSPDYExecutor(c.AdminREST(), "POST", req.URL())
	}
	require.NoError(t, err)
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	return ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdin, Stdout: stdout, Stderr: stderr})
}

func TestExecThroughTheAPIServer(t *testing.T) {
	c := startCluster(t)
	input := make([]byte, 3<<20+17)
	_, err := rand.Read(input)
	require.NoError(t, err)
	want := sha256.Sum256(input)
	ctx := context.Background()

	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			// stdin reaches the command and ends: cat exits only on end-of-file.
			h := sha256.New()
			require.NoError(t, stream(ctx, t, c, tr, []string{"cat"}, bytes.NewReader(input), h, nil))
			assert.Equal(t, want[:], h.Sum(nil))

			// The exit status and stderr come back.
			var stdout, stderr bytes.Buffer
			err := stream(ctx, t, c, tr, []string{"sh", "-c", "echo out; echo oops >&2; exit 3"}, nil, &stdout, &stderr)
			var exit utilexec.CodeExitError
			require.ErrorAs(t, err, &exit)
			assert.Equal(t, 3, exit.Code)
			assert.Equal(t, "out\n", stdout.String())
			assert.Equal(t, "oops\n", stderr.String())
		})
	}

	last := c.Execs()[len(c.Execs())-1]
	assert.Equal(t, []string{"sh", "-c", "echo out; echo oops >&2; exit 3"}, last.Command)
	assert.Equal(t, "box", last.Pod)
	assert.Equal(t, "main", last.Container)
}

// A command keeps running after its client goes away, as in a real container: one that
// works on files finishes; one that writes to the gone stream dies of a broken pipe.
func TestExecOutlivesItsClient(t *testing.T) {
	c := startCluster(t)
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			marker := filepath.Join(t.TempDir(), "finished")
			before := len(c.Execs())
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() {
				errc <- stream(ctx, t, c, tr, []string{"sh", "-c", "sleep 2; echo done > " + marker}, nil, nil, nil)
			}()
			require.Eventually(t, func() bool { return len(c.Execs()) > before }, 30*time.Second, 20*time.Millisecond, "the exec reached the node")
			cancel()
			require.Error(t, <-errc, "the client ended early")
			_, err := os.Stat(marker)
			require.True(t, errors.Is(err, os.ErrNotExist), "the command is still sleeping")
			require.Eventually(t, func() bool {
				b, err := os.ReadFile(marker)
				return err == nil && string(b) == "done\n"
			}, 30*time.Second, 50*time.Millisecond, "the command ran to its end without its client")
			rec := c.Execs()[before]
			require.Eventually(t, func() bool { return c.Execs()[before].Done }, 10*time.Second, 20*time.Millisecond)
			assert.Equal(t, 0, c.Execs()[before].Code, "%+v", rec)
			// The API server keeps its connection to the node while the command runs: a
			// command that writes nothing never learns its client went.
			assert.False(t, c.Execs()[before].ClientGone)

			// A writer loses its stdout with the client and dies of SIGPIPE (128+13).
			before = len(c.Execs())
			ctx, cancel = context.WithCancel(context.Background())
			var got atomic.Int64
			out := writerFunc(func(p []byte) (int, error) {
				if got.Add(int64(len(p))) > 0 {
					cancel()
				}
				return len(p), nil
			})
			err = stream(ctx, t, c, tr, []string{"sh", "-c", "while :; do echo tick; sleep 0.05; done"}, nil, out, nil)
			require.Error(t, err)
			require.Eventually(t, func() bool { return len(c.Execs()) > before && c.Execs()[before].Done }, 30*time.Second, 20*time.Millisecond,
				"the writer ended after its client left")
			assert.Equal(t, 141, c.Execs()[before].Code)
			assert.True(t, c.Execs()[before].ClientGone)
			cancel()
		})
	}
}

func TestExecRefusedByTheAPIServer(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	req := c.Admin.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name("box").SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: "nope", Command: []string{"true"}, Stdout: true}, scheme.ParameterCodec)
	ex, err := remotecommand.NewWebSocketExecutor(c.AdminREST(), "GET", req.URL().String())
	require.NoError(t, err)
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: io.Discard})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "container nope is not valid for pod box")

	_, err = c.Admin.CoreV1().Pods(ns).Get(ctx, "box", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Empty(t, c.Execs(), "nothing reached the node")
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// A client killed mid-copy (SIGKILL: no goodbye on the stream) ends the command's stdin as
// if the copy were complete: `cat > FILE` exits 0 with part of the data. Whatever copies
// into a pod must check what arrived.
func TestStdinEndsWhenTheClientIsKilled(t *testing.T) {
	c := startCluster(t)
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "copy")
			before := len(c.Execs())
			cfg := c.AdminREST()
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCopyClient$")
			cmd.Env = append(os.Environ(), "REALKUBE_HELPER=1", "REALKUBE_URL="+cfg.Host, "REALKUBE_TOKEN="+cfg.BearerToken,
				"REALKUBE_CA="+string(cfg.CAData), "REALKUBE_TRANSPORT="+tr, "REALKUBE_FILE="+f)
			require.NoError(t, cmd.Start())
			require.Eventually(t, func() bool {
				b, err := os.ReadFile(f)
				return err == nil && string(b) == "the first part\n"
			}, 30*time.Second, 20*time.Millisecond, "the copy began")
			require.NoError(t, cmd.Process.Kill())
			_ = cmd.Wait()
			require.Eventually(t, func() bool {
				b, err := os.ReadFile(f + ".status")
				return err == nil && string(b) == "0\n"
			}, 30*time.Second, 50*time.Millisecond, "cat ended, with status 0")
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			assert.Equal(t, "the first part\n", string(b), "only what arrived before the kill")
			assert.Len(t, c.Execs(), before+1)
		})
	}
}

// TestHelperCopyClient is the client TestStdinEndsWhenTheClientIsKilled kills: it copies
// a first part into the pod, then waits with stdin open.
func TestHelperCopyClient(t *testing.T) {
	if os.Getenv("REALKUBE_HELPER") == "" {
		t.Skip("the client process of TestStdinEndsWhenTheClientIsKilled")
	}
	cfg := &rest.Config{Host: os.Getenv("REALKUBE_URL"), BearerToken: os.Getenv("REALKUBE_TOKEN"),
		TLSClientConfig: rest.TLSClientConfig{CAData: []byte(os.Getenv("REALKUBE_CA"))}}
	client, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	f := os.Getenv("REALKUBE_FILE")
	pr, pw := io.Pipe()
	go func() { _, _ = pw.Write([]byte("the first part\n")) }() // and never more, nor an end
	req := client.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name("box").SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: "main", Command: []string{"sh", "-c", "cat > " + f + "; echo $? > " + f + ".status"},
			Stdin: true, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	var ex remotecommand.Executor
	if os.Getenv("REALKUBE_TRANSPORT") == "websocket" {
		ex, err = remotecommand.NewWebSocketExecutor(cfg, "GET", req.URL().String())
	} else {
		ex, err = remotecommand.NewSPDYExecutor(cfg, "POST", req.URL())
	}
	require.NoError(t, err)
	_ = ex.StreamWithContext(context.Background(), remotecommand.StreamOptions{Stdin: pr, Stdout: io.Discard, Stderr: io.Discard})
}
