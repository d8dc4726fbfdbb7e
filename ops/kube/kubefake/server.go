// Package kubefake is a local Kubernetes API server for tests and the demo. It is a real HTTPS
// server that real client-go talks to through a generated kubeconfig: discovery, apps/v1
// StatefulSets and Deployments with the scale subresource, core/v1 Pods with exec over
// WebSocket and SPDY, ConfigMaps and coordination.k8s.io/v1 Leases, and minimal watches.
// Fault switches let tests break it the way real clusters break.
package kubefake

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Options configures a Server.
type Options struct {
	// Token is the bearer token clients must present; empty means a random one.
	Token string
	// ScaleDelay is how long status.replicas lags behind a change of spec.replicas, so a
	// client that waits for the rollout is exercised. Zero means 200ms; negative means at once.
	ScaleDelay time.Duration
}

// Server is a running fake API server. Its methods are safe for concurrent use.
type Server struct {
	token      string
	scaleDelay time.Duration
	caPEM      []byte
	url        string
	http       *http.Server
	done       chan struct{}
	closeOnce  sync.Once

	mu       sync.Mutex
	rv       uint64
	objects  map[string]map[string]runtime.Object // resource plural -> "ns/name" -> object
	watchers map[*watcher]struct{}
	timers   []*time.Timer

	// Fault switches and exec bookkeeping, also under mu.
	unreachable   bool
	unstall       chan struct{} // non-nil while SetStalled(true): closed to let requests on
	stalled       int           // requests waiting on unstall
	wsDisabled    bool
	failAfter     int64
	execHandler   ExecHandler
	execCount     int
	lastExec      ExecInfo
	hijacked      map[net.Conn]struct{}
	execCancels   map[uint64]context.CancelFunc
	procCtx       context.Context // the commands' lifetime: until Close
	procCancel    context.CancelFunc
	execSeq       uint64
	denied        map[Permission]bool
	serveComplete sync.WaitGroup
}

// Start listens on a random 127.0.0.1 port and serves until Close.
func Start(opts Options) (*Server, error) {
	token := opts.Token
	if token == "" {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("kubefake: generate token: %w", err)
		}
		token = hex.EncodeToString(b)
	}
	delay := opts.ScaleDelay
	switch {
	case delay == 0:
		delay = 200 * time.Millisecond
	case delay < 0:
		delay = 0
	}
	cert, caPEM, err := selfSignedCert()
	if err != nil {
		return nil, fmt.Errorf("kubefake: make TLS certificate: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("kubefake: listen: %w", err)
	}
	s := &Server{
		token:       token,
		scaleDelay:  delay,
		caPEM:       caPEM,
		url:         "https://" + ln.Addr().String(),
		done:        make(chan struct{}),
		objects:     map[string]map[string]runtime.Object{},
		watchers:    map[*watcher]struct{}{},
		hijacked:    map[net.Conn]struct{}{},
		execCancels: map[uint64]context.CancelFunc{},
	}
	s.procCtx, s.procCancel = context.WithCancel(context.Background())
	s.http = &http.Server{
		Handler: s.routes(),
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			NextProtos:   []string{"h2", "http/1.1"},
			MinVersion:   tls.VersionTLS12,
		},
		// Cut streams and refused handshakes are expected in tests; the standard logger would
		// only add noise to their output.
		ErrorLog:          log.New(io.Discard, "", 0),
		ReadHeaderTimeout: 10 * time.Second,
	}
	s.serveComplete.Add(1)
	go func() {
		defer s.serveComplete.Done()
		_ = s.http.ServeTLS(ln, "", "") // returns http.ErrServerClosed after Close
	}()
	return s, nil
}

// Close stops the server, ends watches and running execs, and closes upgraded connections
// (which http.Server.Close leaves alone).
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		_ = s.http.Close()
		s.mu.Lock()
		for _, t := range s.timers {
			t.Stop()
		}
		conns := s.dropStreamsLocked()
		s.mu.Unlock()
		s.procCancel() // the commands end with their node
		closeAll(conns)
		s.serveComplete.Wait()
	})
}

// URL is the server's base URL, https://127.0.0.1:port.
func (s *Server) URL() string { return s.url }

// Token is the bearer token the server accepts.
func (s *Server) Token() string { return s.token }

// CAPEM is the PEM certificate that signs (and is) the server certificate.
func (s *Server) CAPEM() []byte { return append([]byte(nil), s.caPEM...) }

// SetReachable(false) makes the server answer every request with 503 and cuts every open
// exec and watch stream, as when a cluster's API endpoint goes away (the commands go on
// running in their pods). true restores it.
func (s *Server) SetReachable(ok bool) {
	s.mu.Lock()
	s.unreachable = !ok
	var conns []net.Conn
	if !ok {
		conns = s.dropStreamsLocked()
	}
	s.mu.Unlock()
	closeAll(conns)
}

// SetStalled(true) makes the server take requests and answer none, as an API server does
// while etcd does not answer: each request waits until SetStalled(false) (then it is
// served), until its client gives up, or until Close. A real API server answers 504
// after its own request timeout (a minute by default); clients bound their calls
// sooner.
func (s *Server) SetStalled(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case on && s.unstall == nil:
		s.unstall = make(chan struct{})
	case !on && s.unstall != nil:
		close(s.unstall)
		s.unstall = nil
	}
}

// Stalled is the number of requests waiting because of SetStalled.
func (s *Server) Stalled() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stalled
}

// stall holds r while the server is stalled; false means r is not to be served (its
// client gave up, or the server closed).
func (s *Server) stall(r *http.Request) bool {
	s.mu.Lock()
	unstall := s.unstall
	if unstall == nil {
		s.mu.Unlock()
		return true
	}
	s.stalled++
	s.mu.Unlock()
	defer func() { s.mu.Lock(); s.stalled--; s.mu.Unlock() }()
	select {
	case <-unstall:
		return true
	case <-r.Context().Done():
	case <-s.done:
	}
	return false
}

// KillExecs ends every command still running, as when their pod is deleted.
func (s *Server) KillExecs() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, cancel := range s.execCancels {
		cancel()
	}
}

// RunningExecs is the number of commands still running, whether or not a client is
// still attached.
func (s *Server) RunningExecs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.execCancels)
}

// dropStreamsLocked ends watches and returns the hijacked connections for the caller to
// close once it has released the lock (a TLS close may wait on the peer). Running
// commands are left alone: they outlive their clients.
func (s *Server) dropStreamsLocked() []net.Conn {
	conns := make([]net.Conn, 0, len(s.hijacked))
	for c := range s.hijacked {
		conns = append(conns, c)
	}
	clear(s.hijacked)
	for w := range s.watchers {
		close(w.ch)
	}
	clear(s.watchers)
	return conns
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		_ = c.Close()
	}
}

// routes builds the request router behind the reachability and authentication checks.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	s.discoveryRoutes(mux)
	for _, res := range resources {
		s.resourceRoutes(mux, res)
	}
	s.workloadRoutes(mux)
	mux.HandleFunc("/api/v1/namespaces/{ns}/pods/{name}/exec", s.handleExec)
	mux.HandleFunc("POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews", s.handleSSAR)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeStatusError(w, apierrors.NewNotFound(schemaResource("", r.URL.Path), ""))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		down := s.unreachable
		s.mu.Unlock()
		if down {
			writeStatusError(w, apierrors.NewServiceUnavailable("kubefake: API server made unreachable by SetReachable(false)"))
			return
		}
		if !s.stall(r) {
			return
		}
		if !s.authorized(r) {
			writeStatusError(w, apierrors.NewUnauthorized("Unauthorized"))
			return
		}
		if s.forbidden(w, r) {
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (s *Server) authorized(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) == 1
}

// nextRVLocked returns a new, larger resourceVersion.
func (s *Server) nextRVLocked() string {
	s.rv++
	return fmt.Sprint(s.rv)
}

// writeJSON answers with one JSON object.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// writeStatusError answers with a metav1.Status, which client-go turns into a StatusError.
func writeStatusError(w http.ResponseWriter, err error) {
	var se apierrors.APIStatus
	if !errors.As(err, &se) {
		se = apierrors.NewInternalError(err)
	}
	st := se.Status()
	st.TypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}
	writeJSON(w, int(st.Code), st)
}
