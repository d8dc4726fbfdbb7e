package kubefake

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/wsstream"
	utilexec "k8s.io/utils/exec"
)

// ExecRequest is one command run in a pod's container. Stdin is never nil (it is empty when
// the client sent no stdin); Stdout and Stderr are never nil either.
//
// As on a real node, the command outlives its client: when the client goes away (the
// bot dies, its connection breaks, the API server becomes unreachable) Disconnected
// is closed, Stdin ends, and writes to Stdout and Stderr fail (a broken pipe), but the
// command goes on. One that writes its output to the stream (pg_dump) dies of that;
// one that works on files in the pod (pg_restore FILE) runs to its end.
type ExecRequest struct {
	Namespace, Pod, Container string
	Command                   []string
	Stdin                     io.Reader
	Stdout, Stderr            io.Writer
	Disconnected              <-chan struct{}
}

// ExecHandler runs a command for the fake. Its ctx ends only when the server closes (or
// KillExecs is called), not when the client goes away. A non-zero exitCode is reported to
// the client as the command's exit status; a non-nil err as an internal error of the runtime.
type ExecHandler func(ctx context.Context, req ExecRequest) (exitCode int, err error)

// ErrBrokenPipe is what a command's writes return once its client has gone.
var ErrBrokenPipe = errors.New("kubefake: write to a stream whose client has gone (broken pipe)")

// Exec transports, as recorded in ExecInfo.Transport.
const (
	TransportWebSocket = "websocket"
	TransportSPDY      = "spdy"
)

// ExecInfo describes an exec that reached the handler.
type ExecInfo struct {
	Transport                 string // TransportWebSocket or TransportSPDY
	Protocol                  string // negotiated subprotocol, e.g. v5.channel.k8s.io
	Namespace, Pod, Container string
	Command                   []string
}

// errStreamCut is what a handler's stdout write returns once FailExecAfterBytes has fired.
var errStreamCut = errors.New("kubefake: exec stream cut by FailExecAfterBytes")

// websocketProtocols are the channel protocols served here for client-go's WebSocket
// executor. The kubelet's ServeExec stops at v4, which lacks the CLOSE signal client-go needs
// to end stdin, so v5 is served with wsstream directly (as kube-apiserver does for clients).
var websocketProtocols = []string{"v5.channel.k8s.io", "v4.channel.k8s.io"}

// SetExecHandler sets the function that runs exec'd commands. Without one, every command
// fails with exit code 126 and a message on stderr.
func (s *Server) SetExecHandler(h ExecHandler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.execHandler = h
}

// ExecCount is the number of execs that reached the handler.
func (s *Server) ExecCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.execCount
}

// LastExec describes the latest exec that reached the handler.
func (s *Server) LastExec() ExecInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	info := s.lastExec
	info.Command = slices.Clone(info.Command)
	return info
}

// DisableWebSocketExec makes the server refuse WebSocket upgrades of exec with 400, like an
// API server or proxy without WebSocket support, so clients must fall back to SPDY.
func (s *Server) DisableWebSocketExec(disabled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wsDisabled = disabled
}

// FailExecAfterBytes makes later execs close their connection abruptly once n bytes of
// stdout were written; 0 turns it off.
func (s *Server) FailExecAfterBytes(n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failAfter = n
}

// handleExec serves pods/{name}/exec: it checks the request like the API server does, then
// hands WebSocket v5 to serveWebSocketExec and everything else (SPDY, older WebSocket
// protocols) to the kubelet's ServeExec.
func (s *Server) handleExec(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		writeStatusError(w, apierrors.NewMethodNotSupported(schemaResource("", "pods/exec"), r.Method))
		return
	}
	ns, name := r.PathValue("ns"), r.PathValue("name")
	q := r.URL.Query()
	s.mu.Lock()
	obj, err := s.getLocked(resourceByPlural("pods"), ns, name)
	var containers []string
	var pod *corev1.Pod
	if err == nil {
		pod = obj.(*corev1.Pod).DeepCopy()
		containers = podContainers(pod)
	}
	wsDisabled := s.wsDisabled
	s.mu.Unlock()
	if err != nil {
		writeStatusError(w, err)
		return
	}
	container := q.Get("container")
	if container == "" && len(containers) == 1 {
		container = containers[0]
	}
	if !slices.Contains(containers, container) {
		// The API server's own words (pkg/registry/core/pod).
		writeStatusError(w, apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", container, name)))
		return
	}
	// The API server passes the exec on to the node whatever the pod's phase; the node's
	// runtime refuses a container that is not running, and its text reaches the client.
	if msg := notRunning(pod, container); msg != "" {
		http.Error(w, msg, http.StatusInternalServerError)
		return
	}
	opts := &remotecommand.Options{
		Stdin: isTrue(q.Get("stdin")), Stdout: isTrue(q.Get("stdout")), Stderr: isTrue(q.Get("stderr")), TTY: isTrue(q.Get("tty")),
	}
	switch {
	case len(q["command"]) == 0:
		writeStatusError(w, apierrors.NewBadRequest("you must specify at least one command for the container"))
		return
	case opts.TTY:
		writeStatusError(w, apierrors.NewBadRequest("kubefake does not support tty exec"))
		return
	case !opts.Stdin && !opts.Stdout && !opts.Stderr:
		writeStatusError(w, apierrors.NewBadRequest("you must specify at least one of stdin, stdout, stderr"))
		return
	}

	run := &execRun{s: s, info: ExecInfo{Namespace: ns, Pod: name, Container: container, Command: q["command"]}, gone: make(chan struct{})}
	run.tw = &trackedWriter{ResponseWriter: w, s: s, onGone: run.disconnect}
	defer run.tw.release()
	switch {
	case wsstream.IsWebSocketRequest(r) && wsDisabled:
		writeStatusError(w, apierrors.NewBadRequest("kubefake: WebSocket exec is disabled (DisableWebSocketExec); use SPDY"))
	case wsstream.IsWebSocketRequestWithStreamCloseProtocol(r):
		run.info.Transport = TransportWebSocket
		s.serveWebSocketExec(run, r, opts)
	default:
		run.info.Transport = TransportSPDY
		offered := r.Header.Values(httpstream.HeaderProtocolVersion)
		supported := remotecommand.SupportedStreamingProtocols
		if wsstream.IsWebSocketRequest(r) {
			run.info.Transport = TransportWebSocket
			offered = r.Header.Values(wsstream.WebSocketProtocolHeader)
			supported = []string{"v4.channel.k8s.io", "v4.base64.channel.k8s.io", "channel.k8s.io", "base64.channel.k8s.io"}
		}
		run.info.Protocol = negotiate(offered, supported)
		remotecommand.ServeExec(run.tw, r, run, name, "", container, q["command"], opts,
			0, remotecommand.DefaultStreamCreationTimeout, remotecommand.SupportedStreamingProtocols)
	}
}

// serveWebSocketExec runs an exec over the v5 (or v4) channel protocol: channels 0-2 carry
// stdin, stdout and stderr, channel 3 the final status, and under v5 the message {255, n}
// closes channel n (how the client ends stdin).
func (s *Server) serveWebSocketExec(run *execRun, r *http.Request, opts *remotecommand.Options) {
	pick := func(want bool, t wsstream.ChannelType) wsstream.ChannelType {
		if want {
			return t
		}
		return wsstream.IgnoreChannel
	}
	channels := []wsstream.ChannelType{
		pick(opts.Stdin, wsstream.ReadChannel),
		pick(opts.Stdout, wsstream.WriteChannel),
		pick(opts.Stderr, wsstream.WriteChannel),
		wsstream.WriteChannel, // status
		wsstream.ReadChannel,  // resize, unused without a TTY
	}
	protocols := map[string]wsstream.ChannelProtocolConfig{}
	for _, p := range websocketProtocols {
		protocols[p] = wsstream.ChannelProtocolConfig{Binary: true, Channels: channels}
	}
	conn := wsstream.NewConn(protocols)
	proto, streams, err := conn.Open(run.tw, r)
	if err != nil {
		return // the handshake failure was already answered
	}
	defer conn.Close()
	run.info.Protocol = proto

	var stdin io.Reader
	var stdout, stderr io.Writer
	if opts.Stdin {
		stdin = streams[0]
	}
	if opts.Stdout {
		stdout = streams[1]
	}
	if opts.Stderr {
		stderr = streams[2]
	}
	code, runErr := run.run(r.Context(), stdin, stdout, stderr)
	st := metav1.Status{Status: metav1.StatusSuccess}
	switch {
	case runErr != nil:
		st = metav1.Status{Status: metav1.StatusFailure, Reason: metav1.StatusReasonInternalError, Code: http.StatusInternalServerError,
			Message: fmt.Sprintf("Internal error occurred: error executing command in container: %v", runErr)}
	case code != 0:
		st = metav1.Status{Status: metav1.StatusFailure, Reason: "NonZeroExitCode",
			Message: fmt.Sprintf("command terminated with non-zero exit code: exit status %d", code),
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: "ExitCode", Message: fmt.Sprint(code)}}}}
	}
	b, _ := json.Marshal(st)
	_, _ = streams[3].Write(b)
}

// execRun is one exec; it implements the kubelet's remotecommand.Executor.
type execRun struct {
	s    *Server
	info ExecInfo
	tw   *trackedWriter

	gone     chan struct{} // closed when the client's stream is gone
	goneOnce sync.Once
}

func (e *execRun) disconnect() { e.goneOnce.Do(func() { close(e.gone) }) }

// streamWriter fails every write once the client has gone, as a pipe whose reader
// closed does, and notices a client gone from a failed write.
type streamWriter struct {
	w   io.Writer
	run *execRun
}

func (w *streamWriter) Write(p []byte) (int, error) {
	select {
	case <-w.run.gone:
		return 0, ErrBrokenPipe
	default:
	}
	n, err := w.w.Write(p)
	if err != nil {
		w.run.disconnect()
		return n, ErrBrokenPipe
	}
	return n, nil
}

// streamReader ends stdin once the client has gone.
type streamReader struct {
	r   io.Reader
	run *execRun
}

func (r *streamReader) Read(p []byte) (int, error) {
	select {
	case <-r.run.gone:
		return 0, io.EOF
	default:
	}
	n, err := r.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		r.run.disconnect()
		return n, io.EOF
	}
	return n, err
}

// ExecInContainer adapts the handler to ServeExec, which reports a utilexec.ExitError as the
// command's exit code and any other error as an internal error.
func (e *execRun) ExecInContainer(ctx context.Context, _, _, _ string, _ []string, in io.Reader, out, errw io.WriteCloser,
	_ bool, _ <-chan remotecommand.TerminalSize, _ time.Duration) error {
	var stdout, stderr io.Writer
	if out != nil {
		stdout = out
	}
	if errw != nil {
		stderr = errw
	}
	code, err := e.run(ctx, in, stdout, stderr)
	if err != nil {
		return err
	}
	if code != 0 {
		return utilexec.CodeExitError{Err: fmt.Errorf("exit status %d", code), Code: code}
	}
	return nil
}

// run records the exec, applies the fault switches and calls the handler. The command's
// context ends only when the server closes or KillExecs is called; the request's context
// ending (the client went away) only marks the stream gone.
func (e *execRun) run(reqCtx context.Context, in io.Reader, out, errw io.Writer) (int, error) {
	s := e.s
	ctx, cancel := context.WithCancel(s.procCtx)
	defer cancel()
	stopWatch := context.AfterFunc(reqCtx, e.disconnect)
	defer stopWatch()
	s.mu.Lock()
	s.execSeq++
	id := s.execSeq
	s.execCancels[id] = cancel
	s.execCount++
	s.lastExec = e.info
	handler, failAfter := s.execHandler, s.failAfter
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.execCancels, id)
		s.mu.Unlock()
	}()

	if in == nil {
		in = strings.NewReader("")
	}
	if out == nil {
		out = io.Discard
	}
	if errw == nil {
		errw = io.Discard
	}
	if failAfter > 0 {
		out = &cutWriter{w: out, left: failAfter, cut: e.tw.cut}
	}
	in, out, errw = &streamReader{in, e}, &streamWriter{out, e}, &streamWriter{errw, e}
	if handler == nil {
		fmt.Fprintf(errw, "kubefake: no exec handler set for %s/%s %s\n", e.info.Namespace, e.info.Pod, e.info.Container)
		return 126, nil
	}
	return handler(ctx, ExecRequest{
		Namespace: e.info.Namespace, Pod: e.info.Pod, Container: e.info.Container,
		Command: slices.Clone(e.info.Command), Stdin: in, Stdout: out, Stderr: errw, Disconnected: e.gone,
	})
}

// cutWriter passes through up to left bytes, then closes the connection under the stream.
type cutWriter struct {
	w    io.Writer
	left int64
	cut  func()
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if c.left <= 0 {
		c.cut()
		return 0, errStreamCut
	}
	if int64(len(p)) <= c.left {
		n, err := c.w.Write(p)
		c.left -= int64(n)
		return n, err
	}
	n, _ := c.w.Write(p[:c.left])
	c.left = 0
	c.cut()
	return n, errStreamCut
}

// trackedWriter remembers the connection an upgrade hijacks, so the server can cut it (fault
// injection, SetReachable(false), Close); http.Server forgets hijacked connections.
type trackedWriter struct {
	http.ResponseWriter
	s      *Server
	onGone func() // called when a read of the hijacked connection fails: the client has gone

	mu   sync.Mutex
	conn net.Conn
}

// watchedConn reports a failed read: a client that went away shows there first.
type watchedConn struct {
	net.Conn
	onGone func()
}

func (c *watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil && c.onGone != nil {
		c.onGone()
	}
	return n, err
}

func (t *trackedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := t.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("kubefake: connection cannot be upgraded (HTTP/2?)")
	}
	c, rw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	t.s.mu.Lock()
	t.s.hijacked[c] = struct{}{}
	t.s.mu.Unlock()
	t.mu.Lock()
	t.conn = c
	t.mu.Unlock()
	// Both upgraders read the connection through the returned reader: read it through
	// watchedConn, after the bytes already buffered.
	buffered, _ := rw.Reader.Peek(rw.Reader.Buffered())
	watched := &watchedConn{Conn: c, onGone: t.onGone}
	r := bufio.NewReader(io.MultiReader(bytes.NewReader(bytes.Clone(buffered)), watched))
	return watched, bufio.NewReadWriter(r, rw.Writer), nil
}

// cut closes the hijacked connection without any goodbye.
func (t *trackedWriter) cut() {
	t.mu.Lock()
	c := t.conn
	t.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

// release forgets the connection once the exec is over.
func (t *trackedWriter) release() {
	t.mu.Lock()
	c := t.conn
	t.mu.Unlock()
	if c != nil {
		t.s.mu.Lock()
		delete(t.s.hijacked, c)
		t.s.mu.Unlock()
	}
}

// negotiate picks the first protocol the client offered that the server supports, as both
// the SPDY and WebSocket handshakes do.
func negotiate(offered, supported []string) string {
	for _, h := range offered {
		for _, p := range strings.Split(h, ",") {
			if p = strings.TrimSpace(p); slices.Contains(supported, p) {
				return p
			}
		}
	}
	return ""
}

// notRunning says why the node would refuse an exec into the container, or "" if it runs.
func notRunning(p *corev1.Pod, container string) string {
	for _, cs := range p.Status.ContainerStatuses {
		switch {
		case cs.Name != container || cs.State.Running != nil:
			continue
		case cs.State.Terminated != nil:
			return fmt.Sprintf("failed to exec in container: container %s is in CONTAINER_EXITED state", container)
		default:
			return fmt.Sprintf("failed to exec in container: container %s is not created or running", container)
		}
	}
	return ""
}
