package realkube

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

// ExecRequest is one command exec'd in a pod's container. Stdin is never nil (empty when
// the client sent none); Stdout and Stderr are never nil.
type ExecRequest struct {
	Namespace, Pod, Container string
	Command                   []string
	Stdin                     io.Reader
	Stdout, Stderr            io.Writer
	// Disconnected is closed once a write finds the client gone. The API server keeps its
	// connection to the node while the command runs, so only a failed write tells (stdin
	// just ends, as at the end of a complete input); the command goes on either way.
	Disconnected <-chan struct{}
}

// ExecFunc runs a command "in" a container, on this machine. Its context ends only when
// the cluster closes, not when the client goes away: like a process in a real container,
// the command runs on, and only its writes to a gone client fail. A non-zero exitCode is
// the command's exit status; a non-nil err is reported as an error of the runtime.
type ExecFunc func(ctx context.Context, req ExecRequest) (exitCode int, err error)

// ExecRecord is one exec that reached the node.
type ExecRecord struct {
	Namespace, Pod, Container string
	Command                   []string
	Started                   time.Time
	Done                      bool  // the command has ended
	ClientGone                bool  // its client had gone when it ended
	Code                      int   // its exit status, once Done
	Err                       error // a runtime error, once Done
}

// kubelet is the node's exec endpoint: what the API server's exec proxy dials, speaking the
// kubelet's streaming protocol (SPDY; the API server translates WebSocket v5 clients to it).
type kubelet struct {
	c      *Cluster
	exec   ExecFunc
	srv    *http.Server
	ctx    context.Context
	cancel context.CancelFunc
	served sync.WaitGroup

	mu      sync.Mutex
	byNS    map[string]ExecFunc // SetNamespaceExec
	records []*ExecRecord
	running sync.WaitGroup
}

// streamIdleTimeout is the kubelet's default --streaming-connection-idle-timeout.
const streamIdleTimeout = 4 * time.Hour

func startKubelet(c *Cluster, port int, fn ExecFunc) (*kubelet, error) {
	cert, err := tls.LoadX509KeyPair(c.pki.path("kubelet.crt"), c.pki.path("kubelet.key"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(c.pki.caCert)
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return nil, fmt.Errorf("realkube: kubelet endpoint: %w", err)
	}
	k := &kubelet{c: c, exec: fn, byNS: map[string]ExecFunc{}}
	k.ctx, k.cancel = context.WithCancel(context.Background())
	mux := http.NewServeMux()
	mux.HandleFunc("/exec/{ns}/{pod}/{container}", func(w http.ResponseWriter, r *http.Request) {
		k.serveExec(w, r, r.PathValue("ns"), r.PathValue("pod"), "", r.PathValue("container"))
	})
	mux.HandleFunc("/exec/{ns}/{pod}/{uid}/{container}", func(w http.ResponseWriter, r *http.Request) {
		k.serveExec(w, r, r.PathValue("ns"), r.PathValue("pod"), r.PathValue("uid"), r.PathValue("container"))
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	k.srv = &http.Server{
		Handler: mux,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			// Only the API server (a client certificate from the cluster's CA) may call.
			ClientAuth: tls.RequireAndVerifyClientCert,
			ClientCAs:  pool,
			MinVersion: tls.VersionTLS12,
		},
		// Upgrades need HTTP/1.1; an empty map turns HTTP/2 off.
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:          log.New(io.Discard, "", 0),
		ReadHeaderTimeout: 10 * time.Second,
	}
	k.served.Add(1)
	go func() {
		defer k.served.Done()
		_ = k.srv.ServeTLS(ln, "", "")
	}()
	return k, nil
}

// serveExec checks the pod is on this node and has the container, as the kubelet does,
// then serves the stream with the kubelet's own code.
func (k *kubelet) serveExec(w http.ResponseWriter, r *http.Request, ns, pod, uid, container string) {
	opts, err := remotecommand.NewOptions(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	p, err := k.c.Admin.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
	cancel()
	switch {
	case apierrors.IsNotFound(err):
		http.Error(w, fmt.Sprintf("pod %s/%s not found", ns, pod), http.StatusNotFound)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	case p.Spec.NodeName != NodeName:
		http.Error(w, fmt.Sprintf("pod %s/%s is not on node %s", ns, pod, NodeName), http.StatusNotFound)
		return
	}
	if !slices.ContainsFunc(p.Spec.Containers, func(c corev1.Container) bool { return c.Name == container }) {
		http.Error(w, fmt.Sprintf("container %s not found in pod %s/%s", container, ns, pod), http.StatusNotFound)
		return
	}
	// The container runtime execs only into a running container.
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name != container || cs.State.Running != nil {
			continue
		}
		state := "is not created or running"
		if cs.State.Terminated != nil {
			state = "is in CONTAINER_EXITED state"
		}
		http.Error(w, fmt.Sprintf("failed to exec in container: container %s %s", container, state), http.StatusInternalServerError)
		return
	}
	cmd := r.URL.Query()["command"]
	e := &podExec{k: k, ns: ns, pod: pod, gone: make(chan struct{})}
	remotecommand.ServeExec(&watchedWriter{ResponseWriter: w, gone: e.disconnect}, r, e, ns+"/"+pod, uid, container, cmd, opts,
		streamIdleTimeout, remotecommand.DefaultStreamCreationTimeout, remotecommand.SupportedStreamingProtocols)
}

// podExec runs one exec for remotecommand.ServeExec.
type podExec struct {
	k       *kubelet
	ns, pod string

	gone     chan struct{} // closed when the client has gone
	goneOnce sync.Once
}

func (e *podExec) disconnect() { e.goneOnce.Do(func() { close(e.gone) }) }

// watchedWriter hands the upgrade a connection whose failed read means the client (the
// API server's proxy) has gone: the stream's reader is always reading.
type watchedWriter struct {
	http.ResponseWriter
	gone func()
}

func (w *watchedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	buffered, _ := rw.Reader.Peek(rw.Reader.Buffered())
	watched := &watchedConn{Conn: c, gone: w.gone}
	r := bufio.NewReader(io.MultiReader(bytes.NewReader(bytes.Clone(buffered)), watched))
	return watched, bufio.NewReadWriter(r, rw.Writer), nil
}

type watchedConn struct {
	net.Conn
	gone func()
}

func (c *watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		c.gone()
	}
	return n, err
}

// goneWriter notices a client gone from a failed write.
type goneWriter struct {
	w io.Writer
	e *podExec
}

func (g goneWriter) Write(p []byte) (int, error) {
	n, err := g.w.Write(p)
	if err != nil {
		g.e.disconnect()
	}
	return n, err
}

func (e *podExec) ExecInContainer(_ context.Context, _, _, container string, cmd []string, in io.Reader, out, errw io.WriteCloser,
	_ bool, _ <-chan remotecommand.TerminalSize, _ time.Duration) error {
	k := e.k
	rec := &ExecRecord{Namespace: e.ns, Pod: e.pod, Container: container, Command: slices.Clone(cmd), Started: time.Now()}
	k.mu.Lock()
	k.records = append(k.records, rec)
	k.running.Add(1)
	run := k.exec
	if fn, ok := k.byNS[e.ns]; ok {
		run = fn
	}
	k.mu.Unlock()
	defer k.running.Done()

	req := ExecRequest{Namespace: e.ns, Pod: e.pod, Container: container, Command: slices.Clone(cmd),
		Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard, Disconnected: e.gone}
	if in != nil {
		req.Stdin = in
	}
	if out != nil {
		req.Stdout = goneWriter{out, e}
	}
	if errw != nil {
		req.Stderr = goneWriter{errw, e}
	}
	code, err := 126, error(nil)
	if run == nil {
		fmt.Fprintf(req.Stderr, "realkube: no exec handler for %s/%s %s\n", e.ns, e.pod, container)
	} else {
		// The request's context is not passed on: the command outlives its client.
		code, err = run(k.ctx, req)
	}
	k.mu.Lock()
	rec.Done, rec.Code, rec.Err = true, code, err
	select {
	case <-e.gone:
		rec.ClientGone = true
	default:
	}
	k.mu.Unlock()
	switch {
	case err != nil:
		return err
	case code != 0:
		return utilexec.CodeExitError{Err: fmt.Errorf("exit status %d", code), Code: code}
	}
	return nil
}

// Execs returns every exec that reached the node, oldest first.
func (c *Cluster) Execs() []ExecRecord {
	k := c.kubelet
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]ExecRecord, len(k.records))
	for i, r := range k.records {
		out[i] = *r
		out[i].Command = slices.Clone(r.Command)
	}
	return out
}

// close ends running commands (their context) and the endpoint.
func (k *kubelet) close() {
	k.cancel()
	_ = k.srv.Close()
	k.served.Wait()
	done := make(chan struct{})
	go func() { k.running.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		fmt.Fprintln(os.Stderr, "realkube: commands still running 15s after the cluster closed")
	}
}
