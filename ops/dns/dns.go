// Package dns watches the traffic switch roll out: it asks each configured resolver
// for the service name's CNAME (and A records) until every one answers the
// destination's LB name.
package dns

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// DefaultQueryTimeout bounds one question to one resolver (UDP and the TCP retry).
const DefaultQueryTimeout = 5 * time.Second

// Answer is one resolver's view of the name.
type Answer struct {
	Resolver string
	// CNAME is the name's CNAME target, lower case without the trailing dot ("" if none).
	CNAME string
	A     []string
	Err   error
}

// Report is the answer as reports and failures hold it (the transport words it).
func (a Answer) Report() report.Answer {
	r := report.Answer{Resolver: a.Resolver, CNAME: a.CNAME, A: a.A}
	if a.Err != nil {
		r.Err = a.Err.Error()
	}
	return r
}

// Reports is each answer as reports hold it.
func Reports(as []Answer) []report.Answer {
	out := make([]report.Answer, 0, len(as))
	for _, a := range as {
		out = append(out, a.Report())
	}
	return out
}

// Normalize writes a DNS name the way answers are compared: lower case, no trailing dot.
func Normalize(name string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), "."))
}

// Query asks resolver (host:port; port 53 when missing) for name's CNAME and A
// records with one A question, over UDP and again over TCP when the answer was
// truncated. It waits DefaultQueryTimeout at most, less when ctx ends sooner.
func Query(ctx context.Context, resolver, name string) Answer {
	a := Answer{Resolver: resolver}
	if Normalize(name) == "" {
		a.Err = report.Fail(report.DNSAnswer{How: report.DNSNoName}, nil)
		return a
	}
	addr := resolver
	if _, _, err := net.SplitHostPort(resolver); err != nil {
		addr = net.JoinHostPort(resolver, "53")
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultQueryTimeout)
	defer cancel()
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), mdns.TypeA) // the answer to A carries the CNAME chain too
	m.RecursionDesired = true
	c := &mdns.Client{Net: "udp", Timeout: DefaultQueryTimeout}
	resp, _, err := c.ExchangeContext(ctx, m, addr)
	if err == nil && resp.Truncated {
		c.Net = "tcp"
		resp, _, err = c.ExchangeContext(ctx, m, addr)
	}
	if err != nil {
		if ctx.Err() != nil || isTimeout(err) {
			a.Err = report.Fail(report.DNSAnswer{How: report.DNSTimeout}, nil)
		} else {
			a.Err = report.Fail(report.DNSAnswer{How: report.DNSQuery}, err)
		}
		return a
	}
	if resp.Rcode != mdns.RcodeSuccess {
		a.Err = report.Fail(report.DNSAnswer{How: report.DNSRcode, Rcode: mdns.RcodeToString[resp.Rcode]}, nil)
		return a
	}
	owner := Normalize(name)
	for _, rr := range resp.Answer {
		switch r := rr.(type) {
		case *mdns.CNAME:
			if Normalize(r.Hdr.Name) == owner && a.CNAME == "" {
				a.CNAME = Normalize(r.Target)
			}
		case *mdns.A:
			a.A = append(a.A, r.A.String())
		}
	}
	return a
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// WaitOptions say what to wait for.
type WaitOptions struct {
	Name      string
	Want      string // the destination's lb_hostname
	Resolvers []string
	Every     time.Duration // between rounds; 15 s when zero
	Timeout   time.Duration // for the whole wait; none (only ctx) when zero
	// QueryTimeout bounds one question to one resolver; DefaultQueryTimeout when zero.
	QueryTimeout time.Duration
	// Progress, if set, sees every round's answers, in the order of Resolvers.
	Progress func([]Answer)
}

// Wait asks all resolvers at once, round after round, until every one answers Want
// as the name's CNAME. It returns the last round's answers; at the timeout the error
// lists each resolver's last answer so a person sees which one lags.
func Wait(ctx context.Context, o WaitOptions) ([]Answer, error) {
	if len(o.Resolvers) == 0 {
		return nil, report.Fail(report.DNSWait{How: report.DNSNoResolvers, Name: o.Name, Want: o.Want}, nil)
	}
	if Normalize(o.Want) == "" || Normalize(o.Name) == "" {
		return nil, report.Fail(report.DNSWait{How: report.DNSNoNames, Name: o.Name, Want: o.Want}, nil)
	}
	if o.Every <= 0 {
		o.Every = 15 * time.Second
	}
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = DefaultQueryTimeout
	}
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	want := Normalize(o.Want)
	var last []Answer
	// Sliding: the next round starts Every after the last one ended, so a resolver that
	// does not answer slows the rounds down instead of running them back to back.
	err := wait.Backoff{Duration: o.Every}.DelayFunc().Until(ctx, true, true, func(ctx context.Context) (bool, error) {
		answers := round(ctx, o)
		done := true
		for _, a := range answers {
			if a.Err != nil || a.CNAME != want {
				done = false
			}
		}
		if !done && ended(ctx) && last != nil {
			// The wait ended during this round and cut its questions short: the
			// previous complete round says more about each resolver.
			return false, nil
		}
		last = answers
		if o.Progress != nil {
			o.Progress(last)
		}
		return done, nil
	})
	if err != nil {
		return last, waitError(ctx, o, last)
	}
	return last, nil
}

// round asks every resolver in parallel, so one that does not answer delays a round
// by one query timeout, not one per resolver.
func round(ctx context.Context, o WaitOptions) []Answer {
	out := make([]Answer, len(o.Resolvers))
	var wg sync.WaitGroup
	for i, r := range o.Resolvers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			qctx, cancel := context.WithTimeout(ctx, o.QueryTimeout)
			defer cancel()
			out[i] = Query(qctx, r, o.Name)
		}()
	}
	wg.Wait()
	return out
}

// ended says whether the wait is over. A query's socket deadline can fire a moment
// before the context's own timer marks it done, so the deadline is checked too.
func ended(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

func waitError(ctx context.Context, o WaitOptions, last []Answer) error {
	f := report.DNSWait{How: report.DNSStopped, Name: o.Name, Want: o.Want, Answers: Reports(last)}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && o.Timeout > 0 {
		f.How, f.Timeout = report.DNSTimedOut, o.Timeout
	}
	return report.Fail(f, ctx.Err())
}
