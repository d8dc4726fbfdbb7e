// Package dnsfake is a local DNS resolver whose answers a test changes, to watch a
// CNAME change roll out (or lag, or time out).
package dnsfake

import (
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
)

// Server answers on 127.0.0.1 over UDP and TCP.
type Server struct {
	udp, tcp *mdns.Server
	addr     string
	mu       sync.Mutex
	cnames   map[string]string
	as       map[string][]string
	delay    time.Duration
	drop     bool
	queries  atomic.Int64
}

// Start listens on a free port (the same number for UDP and TCP).
func Start() (*Server, error) {
	var pc net.PacketConn
	var l net.Listener
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		// The TCP side of a free UDP port may be taken by someone else: try another.
		if l, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		return nil, err
	}
	s := &Server{addr: pc.LocalAddr().String(), cnames: map[string]string{}, as: map[string][]string{}}
	h := mdns.HandlerFunc(s.answer)
	s.udp = &mdns.Server{PacketConn: pc, Handler: h}
	s.tcp = &mdns.Server{Listener: l, Handler: h}
	go func() { _ = s.udp.ActivateAndServe() }()
	go func() { _ = s.tcp.ActivateAndServe() }()
	return s, nil
}

// Addr is host:port, for dns.resolvers.
func (s *Server) Addr() string { return s.addr }

// Close stops it.
func (s *Server) Close() {
	_ = s.udp.Shutdown()
	_ = s.tcp.Shutdown()
}

func key(n string) string { return strings.ToLower(mdns.Fqdn(n)) }

// SetCNAME points name at target.
func (s *Server) SetCNAME(name, target string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cnames[key(name)] = mdns.Fqdn(target)
}

// SetA sets name's addresses.
func (s *Server) SetA(name string, ips ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.as[key(name)] = ips
}

// SetDelay slows every answer (a lagging resolver).
func (s *Server) SetDelay(d time.Duration) { s.mu.Lock(); s.delay = d; s.mu.Unlock() }

// SetDrop makes it answer nothing (a resolver timing out).
func (s *Server) SetDrop(drop bool) { s.mu.Lock(); s.drop = drop; s.mu.Unlock() }

// Queries counts the questions asked.
func (s *Server) Queries() int64 { return s.queries.Load() }

func (s *Server) answer(w mdns.ResponseWriter, r *mdns.Msg) {
	s.queries.Add(1)
	s.mu.Lock()
	delay, drop := s.delay, s.drop
	s.mu.Unlock()
	if drop {
		return
	}
	time.Sleep(delay)
	m := new(mdns.Msg)
	m.SetReply(r)
	m.RecursionAvailable = true
	if len(r.Question) == 1 {
		q := r.Question[0]
		name := key(q.Name)
		s.mu.Lock()
		for hops := 0; hops < 8; hops++ {
			if target, ok := s.cnames[name]; ok {
				m.Answer = append(m.Answer, &mdns.CNAME{Hdr: mdns.RR_Header{Name: name, Rrtype: mdns.TypeCNAME, Class: mdns.ClassINET, Ttl: 300}, Target: target})
				name = key(target)
				continue
			}
			break
		}
		if q.Qtype == mdns.TypeA {
			for _, ip := range s.as[name] {
				m.Answer = append(m.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 300}, A: net.ParseIP(ip)})
			}
		}
		s.mu.Unlock()
		if len(m.Answer) == 0 {
			m.Rcode = mdns.RcodeNameError
		}
	}
	_ = w.WriteMsg(m)
}
