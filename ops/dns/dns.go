// Package dns watches the switch roll out: it asks each configured resolver for the
// service name's CNAME (and A) until every one answers the destination's LB name.
package dns

import (
	"context"
	"fmt"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
)

// Answer is one resolver's view.
type Answer struct {
	Resolver string
	CNAME    string
	A        []string
	Err      error
}

func (a Answer) String() string {
	switch {
	case a.Err != nil:
		return fmt.Sprintf("%s: %v", a.Resolver, a.Err)
	case a.CNAME == "":
		return fmt.Sprintf("%s: no CNAME (A %s)", a.Resolver, strings.Join(a.A, ", "))
	}
	return fmt.Sprintf("%s: CNAME %s", a.Resolver, a.CNAME)
}

func norm(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) }

// Query asks resolver (host:port) for name's CNAME and A records, over UDP and then TCP
// when the answer was truncated.
func Query(ctx context.Context, resolver, name string) Answer {
	a := Answer{Resolver: resolver}
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), mdns.TypeA) // an A query returns the CNAME chain too
	m.RecursionDesired = true
	c := &mdns.Client{Timeout: 5 * time.Second}
	qctx, cancel := context.WithTimeout(ctx, 6*time.Second)
	defer cancel()
	resp, _, err := c.ExchangeContext(qctx, m, resolver)
	if err == nil && resp.Truncated {
		c.Net = "tcp"
		resp, _, err = c.ExchangeContext(qctx, m, resolver)
	}
	if err != nil {
		a.Err = err
		return a
	}
	if resp.Rcode != mdns.RcodeSuccess {
		a.Err = fmt.Errorf("answered %s", mdns.RcodeToString[resp.Rcode])
		return a
	}
	for _, rr := range resp.Answer {
		switch r := rr.(type) {
		case *mdns.CNAME:
			if norm(r.Hdr.Name) == norm(name) {
				a.CNAME = norm(r.Target)
			}
		case *mdns.A:
			a.A = append(a.A, r.A.String())
		}
	}
	return a
}

// WaitOptions say what to wait for.
type WaitOptions struct {
	Name      string
	Want      string // the destination's lb_hostname
	Resolvers []string
	Every     time.Duration
	Timeout   time.Duration
	Progress  func([]Answer)
}

// Wait polls every resolver until all answer Want, or fails at the timeout with the
// last answers.
func Wait(ctx context.Context, o WaitOptions) ([]Answer, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	var last []Answer
	for {
		last = make([]Answer, len(o.Resolvers))
		done := true
		for i, r := range o.Resolvers {
			last[i] = Query(ctx, r, o.Name)
			if last[i].Err != nil || last[i].CNAME != norm(o.Want) {
				done = false
			}
		}
		if o.Progress != nil {
			o.Progress(last)
		}
		if done {
			return last, nil
		}
		select {
		case <-ctx.Done():
			var lines []string
			for _, a := range last {
				lines = append(lines, a.String())
			}
			return last, fmt.Errorf("%s did not point at %s on every resolver within %s: %s", o.Name, o.Want, o.Timeout, strings.Join(lines, "; "))
		case <-time.After(o.Every):
		}
	}
}
