package kube

import (
	"errors"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"

	"github.com/nycmeshnet/cutoverbot/ops/report"

	//lint:ignore SA1019 client-go's spdy.Upgrader still speaks this package's Connection type
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
)

// ErrNoExitStatus means an exec stream ended without the final status: the connection was
// lost, and stdout may be truncated.
var ErrNoExitStatus = errors.New("the exec stream ended without an exit status (connection lost?); output may be truncated")

// statusGuard watches the error stream of a SPDY exec. Over SPDY, client-go reports a
// connection that drops mid-stream as success: every stream just reaches EOF, and an empty
// error stream decodes as "no error". From protocol v4 on the server always sends a status,
// success included, so an empty error stream there means the status never came.
type statusGuard struct {
	upgrader spdy.Upgrader

	mu        sync.Mutex
	protocol  string
	errStream *countingStream
}

// newGuardedSPDYExecutor is remotecommand.NewSPDYExecutor with a statusGuard in the upgrader.
func newGuardedSPDYExecutor(cfg *rest.Config, method string, u *url.URL) (remotecommand.Executor, *statusGuard, error) {
	transport, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		return nil, nil, err
	}
	g := &statusGuard{upgrader: upgrader}
	e, err := remotecommand.NewSPDYExecutorForTransports(transport, g, method, u)
	return e, g, err
}

// NewConnection implements spdy.Upgrader.
func (g *statusGuard) NewConnection(resp *http.Response) (httpstream.Connection, error) {
	conn, err := g.upgrader.NewConnection(resp)
	if err != nil {
		// The upgrader gives the API's refusals as text only ("unable to upgrade
		// connection: ..."); the status code says which.
		switch resp.StatusCode {
		case http.StatusNotFound: // the pod is gone
			return nil, podGone{err}
		case http.StatusUnauthorized, http.StatusForbidden: // the token; a permission
			return nil, report.Fail(report.APIRefused{Code: resp.StatusCode}, err)
		}
		return nil, err
	}
	g.mu.Lock()
	g.protocol = resp.Header.Get(httpstream.HeaderProtocolVersion)
	g.mu.Unlock()
	return &guardedConn{Connection: conn, g: g}, nil
}

// check turns a "successful" stream that never carried a status into ErrNoExitStatus. It is
// a no-op for streams that never connected over SPDY (e.g. WebSocket succeeded).
func (g *statusGuard) check() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.errStream == nil {
		return nil
	}
	if (g.protocol == "v4.channel.k8s.io" || g.protocol == "v5.channel.k8s.io") && g.errStream.n.Load() == 0 {
		return &report.Failed{Facts: report.NoExitStatus{}, Sentinel: ErrNoExitStatus}
	}
	return nil
}

type guardedConn struct {
	httpstream.Connection
	g *statusGuard
}

func (c *guardedConn) CreateStream(headers http.Header) (httpstream.Stream, error) {
	s, err := c.Connection.CreateStream(headers)
	if err != nil || headers.Get(corev1.StreamType) != corev1.StreamTypeError {
		return s, err
	}
	cs := &countingStream{Stream: s}
	c.g.mu.Lock()
	c.g.errStream = cs
	c.g.mu.Unlock()
	return cs, nil
}

// countingStream counts the bytes read from a stream.
type countingStream struct {
	httpstream.Stream
	n atomic.Int64
}

func (s *countingStream) Read(p []byte) (int, error) {
	n, err := s.Stream.Read(p)
	s.n.Add(int64(n))
	return n, err
}

// podGone is the API server's 404 to an exec: the pod (or its namespace) does not exist.
// Its text is the upgrader's; errors.Is(err, ErrNotFound) holds.
type podGone struct{ err error }

func (e podGone) Error() string        { return e.err.Error() }
func (e podGone) Unwrap() error        { return e.err }
func (e podGone) Is(target error) bool { return target == ErrNotFound }
