// Package dnsfake is a local DNS resolver whose answers a test changes, to watch a
// CNAME change roll out (or lag, or time out). Several servers stand for several
// public resolvers.
package dnsfake

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
)

// Server answers on 127.0.0.1 over UDP and TCP, on the same port.
type Server struct {
	udp, tcp *mdns.Server
	addr     string
	queries  atomic.Int64

	mu       sync.Mutex
	cnames   map[string]string
	as       map[string][]string
	delay    time.Duration
	drop     bool
	truncate bool
}

// Start listens on a free port (the same number for UDP and TCP) and returns once
// both are serving.
func Start() (*Server, error) {
	var pc net.PacketConn
	var l net.Listener
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("dnsfake: listen on 127.0.0.1/udp: %w", err)
		}
		// The TCP side of a free UDP port may be taken: try another port.
		if l, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		_ = pc.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("dnsfake: no port free on both UDP and TCP: %w", err)
	}
	s := &Server{addr: pc.LocalAddr().String(), cnames: map[string]string{}, as: map[string][]string{}}
	h := mdns.HandlerFunc(s.answer)
	var ready sync.WaitGroup
	ready.Add(2)
	s.udp = &mdns.Server{PacketConn: pc, Handler: h, NotifyStartedFunc: ready.Done}
	s.tcp = &mdns.Server{Listener: l, Handler: h, NotifyStartedFunc: ready.Done}
	// Shutdown before the servers started would fail and leak them: wait for both.
	errs := make(chan error, 2)
	go func() { errs <- s.udp.ActivateAndServe() }()
	go func() { errs <- s.tcp.ActivateAndServe() }()
	started := make(chan struct{})
	go func() { ready.Wait(); close(started) }()
	select {
	case <-started:
		return s, nil
	case err := <-errs:
		_ = pc.Close()
		_ = l.Close()
		if err == nil {
			err = errors.New("stopped as it started")
		}
		return nil, fmt.Errorf("dnsfake: serve on %s: %w", s.addr, err)
	}
}

// Addr is host:port, as dns.resolvers lists it.
func (s *Server) Addr() string { return s.addr }

// Close stops it.
func (s *Server) Close() {
	_ = s.udp.Shutdown()
	_ = s.tcp.Shutdown()
}

func key(n string) string { return strings.ToLower(mdns.Fqdn(n)) }

// SetCNAME points name at target ("" removes the CNAME).
func (s *Server) SetCNAME(name, target string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if target == "" {
		delete(s.cnames, key(name))
		return
	}
	s.cnames[key(name)] = mdns.Fqdn(target)
}

// SetA sets name's addresses (none removes them).
func (s *Server) SetA(name string, ips ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.as[key(name)] = ips
}

// SetDelay slows every answer (a slow resolver).
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// SetDrop makes it answer nothing at all (a resolver timing out).
func (s *Server) SetDrop(drop bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop = drop
}

// SetTruncate makes UDP answers empty with the TC bit set, so clients must retry
// over TCP, which still answers in full.
func (s *Server) SetTruncate(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.truncate = on
}

// Queries counts the questions received, dropped ones included.
func (s *Server) Queries() int { return int(s.queries.Load()) }

func (s *Server) answer(w mdns.ResponseWriter, r *mdns.Msg) {
	s.queries.Add(1)
	s.mu.Lock()
	delay, drop, truncate := s.delay, s.drop, s.truncate
	s.mu.Unlock()
	if drop {
		return
	}
	if delay > 0 {
		time.Sleep(delay)
	}
	m := new(mdns.Msg)
	m.SetReply(r)
	m.RecursionAvailable = true
	if truncate && w.LocalAddr().Network() == "udp" {
		m.Truncated = true
		_ = w.WriteMsg(m)
		return
	}
	if len(r.Question) != 1 {
		m.Rcode = mdns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := r.Question[0]
	name := key(q.Name)
	s.mu.Lock()
	// Follow the CNAME chain as a recursive resolver does, a few hops at most.
	for hops := 0; hops < 8; hops++ {
		target, ok := s.cnames[name]
		if !ok {
			break
		}
		m.Answer = append(m.Answer, &mdns.CNAME{Hdr: mdns.RR_Header{Name: name, Rrtype: mdns.TypeCNAME, Class: mdns.ClassINET, Ttl: 300}, Target: target})
		name = key(target)
	}
	if q.Qtype == mdns.TypeA {
		for _, ip := range s.as[name] {
			if a := net.ParseIP(ip).To4(); a != nil {
				m.Answer = append(m.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 300}, A: a})
			}
		}
	}
	_, known := s.as[name]
	s.mu.Unlock()
	if len(m.Answer) == 0 && !known {
		m.Rcode = mdns.RcodeNameError
	}
	_ = w.WriteMsg(m)
}
