package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// stderrTailSize is how much of a failed command's stderr its report.ExitCode keeps.
const stderrTailSize = 2048

// Exec runs argv in a container of a pod without a TTY, streaming stdin (may be nil) to it and
// its stdout and stderr to the writers (either may be nil). It speaks WebSocket first and falls
// back to SPDY when the server (or a proxy) refuses the WebSocket upgrade, as kubectl does. A
// non-zero exit is a report.ExitCode failure; cancelling ctx ends the stream. Output is never buffered
// whole: dumps are hundreds of MB.
func (c *Cluster) Exec(ctx context.Context, pod, container string, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return c.ExecShown(ctx, pod, container, argv, argv, stdin, stdout, stderr)
}

// ExecShown is Exec for a command wrapped for the pod (say, to record its pid) whose
// errors should name shown, the command people know.
func (c *Cluster) ExecShown(ctx context.Context, pod, container string, argv, shown []string, stdin io.Reader, stdout, stderr io.Writer) error {
	where := report.ExecFailed{Cluster: c.name, Namespace: c.namespace, Pod: pod, Container: container, Command: quoteArgv(shown)}
	if len(argv) == 0 {
		where.Empty = true
		return report.Fail(where, nil)
	}
	req := c.client.CoreV1().RESTClient().Post().
		Resource("pods").Namespace(c.namespace).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: container,
			Command:   argv,
			Stdin:     stdin != nil,
			Stdout:    true,
			Stderr:    true,
		}, scheme.ParameterCodec)
	executor, guard, err := c.executor(req.URL())
	if err != nil {
		return report.Fail(where, err)
	}

	if stdout == nil {
		stdout = io.Discard
	}
	tail := &tailBuffer{max: stderrTailSize}
	errOut := io.Writer(tail)
	if stderr != nil {
		errOut = io.MultiWriter(tail, stderr) // the tail first: it never fails
	}
	err = executor.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdin, Stdout: stdout, Stderr: errOut})
	if err == nil {
		err = guard.check()
	}
	if err == nil {
		return nil
	}
	var exit utilexec.ExitError
	if errors.As(err, &exit) && exit.Exited() {
		return report.Fail(report.ExitCode{
			Cluster: c.name, Namespace: c.namespace, Pod: pod, Container: container,
			Command: quoteArgv(shown), Code: exit.ExitStatus(), Stderr: strings.TrimSpace(tail.String()),
		}, nil)
	}
	err = explain(err)
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w: %w", cerr, err)
	}
	where.Stderr = strings.TrimSpace(tail.String())
	return report.Fail(where, err)
}

// executor makes a WebSocket executor that falls back to SPDY. The fallback test is the one
// kubectl uses, from k8s.io/streaming: client-go's WebSocket transport returns that package's
// UpgradeFailureError, so the apimachinery function of the same name would never match.
func (c *Cluster) executor(u *url.URL) (remotecommand.Executor, *statusGuard, error) {
	ws, err := remotecommand.NewWebSocketExecutor(c.rest, "GET", u.String())
	if err != nil {
		return nil, nil, fmt.Errorf("websocket executor: %w", err)
	}
	spdy, guard, err := newGuardedSPDYExecutor(c.rest, "POST", u)
	if err != nil {
		return nil, nil, fmt.Errorf("spdy executor: %w", err)
	}
	e, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	return e, guard, err
}

// quoteArgv renders a command line for messages, quoting the arguments that need it.
func quoteArgv(argv []string) string {
	parts := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsAny(a, " \t\n\"'\\$`|&;<>()*?") {
			a = strconv.Quote(a)
		}
		parts[i] = a
	}
	return strings.Join(parts, " ")
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu        sync.Mutex
	max       int
	buf       []byte
	truncated bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.truncated = true
	}
	return len(p), nil
}

// String returns the kept bytes, starting with "..." if earlier ones were dropped.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.truncated {
		return "..." + string(t.buf)
	}
	return string(t.buf)
}
