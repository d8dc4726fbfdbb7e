// Package meshwebfake is an HTTPS "meshweb" for one simulated cluster, behind its load
// balancer: it serves the mapdata endpoints from that cluster's database, repeating link
// and sector keys as db.nycmesh.net does, answers 302 -> /maintenance/ while the flag is
// on, checks the Host header as Django's ALLOWED_HOSTS does, answers 502/503 while its
// pods restart (Restarting), and can swap its certificate to one valid for the service
// host (certbot succeeding).
package meshwebfake

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// CA is a test certificate authority.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

// NewCA makes a CA.
func NewCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, _ := x509.ParseCertificate(der)
	return &CA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// PEM is the CA certificate (for service.ca_file).
func (ca *CA) PEM() []byte { return ca.pem }

// Pool is a pool holding only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// Issue makes a server certificate for names.
func (ca *CA) Issue(names ...string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// Options shape a meshweb.
type Options struct {
	ServiceHost string // db.nycmesh.net (or localhost in the sandbox)
	// Data renders an endpoint: kind is nodes, links or sectors.
	Data func(ctx context.Context, kind string) ([]byte, error)
	// Maintenance reads the flag.
	Maintenance func(ctx context.Context) (bool, error)
	CA          *CA
	// OtherNames is what the certificate is valid for until UseServiceCert.
	OtherNames []string
	// UniqueKeys serves the data as rendered. By default the fake adds the repeated keys
	// of MeshDB's real map data (see repeats.go).
	UniqueKeys bool
}

// Server is one meshweb behind one load balancer address.
type Server struct {
	opts     Options
	listener net.Listener
	http     *http.Server
	mu       sync.Mutex
	cert     tls.Certificate
	// restarting counts the requests still to be answered by the LB with no ready pod.
	restarting int
	served     int // requests answered while restarting, to alternate 502 and 503
}

// Start listens on 127.0.0.1:0 with TLS.
func Start(opts Options) (*Server, error) {
	names := opts.OtherNames
	if len(names) == 0 {
		names = []string{"kubernetes-lb.invalid"}
	}
	cert, err := opts.CA.Issue(names...)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, cert: cert}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.listener = tls.NewListener(l, &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		c := s.cert
		return &c, nil
	}})
	s.http = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: log.New(io.Discard, "", 0)} // failed handshakes are the point of some tests
	go func() { _ = s.http.Serve(s.listener) }()
	return s, nil
}

// Addr is host:port (the cluster's lb_address in the sandbox).
func (s *Server) Addr() string { return s.listener.Addr().String() }

// Close stops the server.
func (s *Server) Close() { _ = s.http.Close() }

// UseServiceCert swaps to a certificate valid for the service host.
func (s *Server) UseServiceCert() error {
	cert, err := s.opts.CA.Issue(s.opts.ServiceHost)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.cert = cert
	s.mu.Unlock()
	return nil
}

// Restarting makes the next n requests find no ready meshweb pod, as after maintenance
// mode (whose failing probes restart the pods): the load balancer answers them itself,
// 502 Bad Gateway and 503 Service Unavailable in turn, before Django sees them.
func (s *Server) Restarting(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.restarting = n
}

// lbAnswer is the load balancer's own answer while no pod is ready, or 0.
func (s *Server) lbAnswer() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.restarting == 0 {
		return 0
	}
	s.restarting--
	s.served++
	if s.served%2 == 1 {
		return http.StatusBadGateway
	}
	return http.StatusServiceUnavailable
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if code := s.lbAnswer(); code != 0 {
		http.Error(w, http.StatusText(code), code)
		return
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if !strings.EqualFold(host, s.opts.ServiceHost) {
		http.Error(w, "Bad Request (400): invalid HTTP_HOST header", http.StatusBadRequest)
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/maintenance/") && r.URL.Path != "/auth/login/" {
		if on, err := s.opts.Maintenance(r.Context()); err != nil {
			http.Error(w, "Server Error (500)", http.StatusInternalServerError)
			return
		} else if on {
			w.Header().Set("Location", "/maintenance/")
			w.WriteHeader(http.StatusFound)
			return
		}
	}
	const prefix = "/api/v1/mapdata/"
	if !strings.HasPrefix(r.URL.Path, prefix) {
		http.NotFound(w, r)
		return
	}
	kind := strings.Trim(strings.TrimPrefix(r.URL.Path, prefix), "/")
	body, err := s.opts.Data(r.Context(), kind)
	if err != nil {
		http.Error(w, "Not Found", http.StatusNotFound)
		return
	}
	if !s.opts.UniqueKeys {
		if body, err = repeatKeys(kind, body); err != nil {
			http.Error(w, "Server Error (500)", http.StatusInternalServerError)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}
