// Package dns watches the traffic switch roll out: it asks each configured resolver
// for the service name's CNAME (and A records) until every one answers the
// destination's LB name.
package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
	"k8s.io/apimachinery/pkg/util/wait"
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

func (a Answer) String() string {
	switch {
	case a.Err != nil:
		return fmt.Sprintf("%s: %v", a.Resolver, a.Err)
	case a.CNAME == "":
		if len(a.A) == 0 {
			return fmt.Sprintf("%s: no CNAME, no A", a.Resolver)
		}
		return fmt.Sprintf("%s: no CNAME (A %s)", a.Resolver, strings.Join(a.A, ", "))
	}
	return fmt.Sprintf("%s: CNAME %s", a.Resolver, a.CNAME)
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
		a.Err = errors.New("no name to ask for")
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
			a.Err = fmt.Errorf("no answer (timed out)")
		} else {
			a.Err = fmt.Errorf("query failed: %w", err)
		}
		return a
	}
	if resp.Rcode != mdns.RcodeSuccess {
		a.Err = fmt.Errorf("answered %s", mdns.RcodeToString[resp.Rcode])
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
		return nil, errors.New("no resolvers to ask (dns.resolvers is empty)")
	}
	if Normalize(o.Want) == "" || Normalize(o.Name) == "" {
		return nil, fmt.Errorf("waiting for %q to point at %q: both names are needed", o.Name, o.Want)
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
	lines := make([]string, 0, len(last))
	for _, a := range last {
		lines = append(lines, a.String())
	}
	seen := "no resolver answered yet"
	if len(lines) > 0 {
		seen = "last answers: " + strings.Join(lines, "; ")
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && o.Timeout > 0 {
		return fmt.Errorf("%s did not point at %s on every resolver within %s (%s): %w", o.Name, o.Want, o.Timeout, seen, ctx.Err())
	}
	return fmt.Errorf("stopped waiting for %s to point at %s (%s): %w", o.Name, o.Want, seen, ctx.Err())
}
