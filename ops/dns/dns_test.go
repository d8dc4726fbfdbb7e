package dns_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/dns"
	"github.com/nycmeshnet/cutoverbot/ops/dns/dnsfake"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

const (
	name = "db.nycmesh.net"
	sn3  = "kubernetes-lb-prod-sn3.nycmesh.net"
	sn10 = "kubernetes-lb-prod-sn10.nycmesh.net"
)

// resolvers starts n fake resolvers that all answer db → sn10, as before a cutover.
func resolvers(t *testing.T, n int) []*dnsfake.Server {
	t.Helper()
	var out []*dnsfake.Server
	for i := 0; i < n; i++ {
		s, err := dnsfake.Start()
		require.NoError(t, err)
		t.Cleanup(s.Close)
		s.SetCNAME(name, sn10)
		s.SetA(sn10, "23.158.16.22")
		s.SetA(sn3, "199.170.132.45")
		out = append(out, s)
	}
	return out
}

func addrs(rs []*dnsfake.Server) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Addr())
	}
	return out
}

func TestQuery(t *testing.T) {
	rs := resolvers(t, 1)
	ctx := context.Background()
	a := dns.Query(ctx, rs[0].Addr(), name)
	require.NoError(t, a.Err)
	assert.Equal(t, sn10, a.CNAME)
	assert.Equal(t, []string{"23.158.16.22"}, a.A)
	assert.Equal(t, report.Answer{Resolver: rs[0].Addr(), CNAME: sn10, A: []string{"23.158.16.22"}}, a.Report())

	rs[0].SetCNAME(name, "Kubernetes-LB-Prod-SN3.nycmesh.net.")
	a = dns.Query(ctx, rs[0].Addr(), "DB.nycmesh.net.")
	require.NoError(t, a.Err)
	assert.Equal(t, sn3, a.CNAME, "compared lower case without the trailing dot")

	a = dns.Query(ctx, rs[0].Addr(), "nothing.nycmesh.net")
	assert.Equal(t, report.DNSAnswer{How: report.DNSRcode, Rcode: "NXDOMAIN"}, failure(t, a.Err).Facts)

	rs[0].SetCNAME("plain.nycmesh.net", "")
	rs[0].SetA("plain.nycmesh.net", "10.70.0.1")
	a = dns.Query(ctx, rs[0].Addr(), "plain.nycmesh.net")
	require.NoError(t, a.Err)
	assert.Empty(t, a.CNAME)
	assert.Equal(t, report.Answer{Resolver: rs[0].Addr(), A: []string{"10.70.0.1"}}, a.Report())
}

func TestQueryFallsBackToTCPWhenTruncated(t *testing.T) {
	rs := resolvers(t, 1)
	rs[0].SetTruncate(true)
	a := dns.Query(context.Background(), rs[0].Addr(), name)
	require.NoError(t, a.Err)
	assert.Equal(t, sn10, a.CNAME)
	assert.Equal(t, 2, rs[0].Queries(), "once over UDP, once over TCP")
}

func TestQueryOfASilentResolverTimesOut(t *testing.T) {
	rs := resolvers(t, 1)
	rs[0].SetDrop(true)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	a := dns.Query(ctx, rs[0].Addr(), name)
	assert.Equal(t, report.DNSAnswer{How: report.DNSTimeout}, failure(t, a.Err).Facts)
	assert.Equal(t, 1, rs[0].Queries())
}

func TestWaitSeesTheChangeAfterSomePolls(t *testing.T) {
	rs := resolvers(t, 2)
	var rounds [][]dns.Answer
	answers, err := dns.Wait(context.Background(), dns.WaitOptions{Name: name, Want: sn3, Resolvers: addrs(rs), Every: time.Millisecond, Timeout: 20 * time.Second,
		Progress: func(a []dns.Answer) {
			rounds = append(rounds, a)
			if len(rounds) == 3 { // the merge applies after the third poll
				for _, r := range rs {
					r.SetCNAME(name, sn3)
				}
			}
		}})
	require.NoError(t, err)
	require.Len(t, rounds, 4, "done on the first poll after the flip")
	for _, a := range rounds[0] {
		assert.Equal(t, sn10, a.CNAME)
	}
	require.Len(t, answers, 2)
	for i, a := range answers {
		assert.Equal(t, rs[i].Addr(), a.Resolver, "answers in the order of the resolvers")
		assert.Equal(t, sn3, a.CNAME)
	}
}

func TestWaitHoldsForALaggingResolver(t *testing.T) {
	rs := resolvers(t, 3)
	rs[1].SetDelay(20 * time.Millisecond) // slow, but answering within the query timeout
	var rounds [][]dns.Answer
	_, err := dns.Wait(context.Background(), dns.WaitOptions{Name: name, Want: sn3 + ".", Resolvers: addrs(rs), Every: time.Millisecond, Timeout: 20 * time.Second,
		Progress: func(a []dns.Answer) {
			rounds = append(rounds, a)
			switch len(rounds) {
			case 2:
				rs[0].SetCNAME(name, sn3) // the change reaches two resolvers first
				rs[1].SetCNAME(name, sn3)
			case 5:
				rs[2].SetCNAME(name, sn3) // and the lagging one later
			}
		}})
	require.NoError(t, err)
	require.Len(t, rounds, 6, "done on the first poll where all three agree")
	assert.Equal(t, sn3, rounds[3][0].CNAME)
	assert.Equal(t, sn3, rounds[3][1].CNAME)
	assert.Equal(t, sn10, rounds[3][2].CNAME, "the lagging resolver still answered the origin")
}

func TestWaitTimeoutListsEveryResolver(t *testing.T) {
	rs := resolvers(t, 3)
	rs[0].SetCNAME(name, sn3)
	rs[2].SetDrop(true) // this resolver never answers
	answers, err := dns.Wait(context.Background(), dns.WaitOptions{Name: name, Want: sn3, Resolvers: addrs(rs),
		Every: 10 * time.Millisecond, Timeout: 500 * time.Millisecond, QueryTimeout: 50 * time.Millisecond})
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	w, ok := failure(t, err).Facts.(report.DNSWait)
	require.True(t, ok, "%v", err)
	timedOut := report.Fail(report.DNSAnswer{How: report.DNSTimeout}, nil).Error()
	assert.Equal(t, report.DNSWait{How: report.DNSTimedOut, Name: name, Want: sn3, Timeout: 500 * time.Millisecond, Answers: []report.Answer{
		{Resolver: rs[0].Addr(), CNAME: sn3, A: w.Answers[0].A}, {Resolver: rs[1].Addr(), CNAME: sn10, A: w.Answers[1].A}, {Resolver: rs[2].Addr(), Err: timedOut},
	}}, w, "every resolver's last answer")
	require.Len(t, answers, 3)
	assert.Greater(t, rs[0].Queries(), 1, "it kept polling")
}

func TestWaitIsNotHeldUpByASilentResolver(t *testing.T) {
	rs := resolvers(t, 2)
	rs[1].SetDrop(true)
	polls := 0
	_, err := dns.Wait(context.Background(), dns.WaitOptions{Name: name, Want: sn3, Resolvers: addrs(rs), Every: time.Millisecond, Timeout: 20 * time.Second,
		QueryTimeout: 30 * time.Millisecond,
		Progress: func(a []dns.Answer) {
			polls++
			if polls <= 2 {
				assert.Equal(t, report.DNSAnswer{How: report.DNSTimeout}, failure(t, a[1].Err).Facts)
				assert.NoError(t, a[0].Err, "the other resolver answers all along")
			}
			if polls == 2 { // the silent resolver comes back with the new answer
				rs[0].SetCNAME(name, sn3)
				rs[1].SetCNAME(name, sn3)
				rs[1].SetDrop(false)
			}
		}})
	require.NoError(t, err)
	assert.Equal(t, 3, polls, "two rounds with the silent resolver, then one where both answer")
}

func TestWaitStopsWithItsContext(t *testing.T) {
	rs := resolvers(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := dns.Wait(ctx, dns.WaitOptions{Name: name, Want: sn3, Resolvers: addrs(rs), Every: time.Millisecond,
		Progress: func([]dns.Answer) { cancel() }})
	require.ErrorIs(t, err, context.Canceled)
	w, ok := failure(t, err).Facts.(report.DNSWait)
	require.True(t, ok, "%v", err)
	assert.Equal(t, report.DNSWait{How: report.DNSStopped, Name: name, Want: sn3, Answers: []report.Answer{{Resolver: rs[0].Addr(), CNAME: sn10, A: []string{"23.158.16.22"}}}}, w)
}

func TestWaitRefusesToWaitForNothing(t *testing.T) {
	_, err := dns.Wait(context.Background(), dns.WaitOptions{Name: name, Want: sn3})
	assert.Equal(t, report.DNSWait{How: report.DNSNoResolvers, Name: name, Want: sn3}, failure(t, err).Facts)
	_, err = dns.Wait(context.Background(), dns.WaitOptions{Name: name, Resolvers: []string{"127.0.0.1:1"}})
	assert.Equal(t, report.DNSWait{How: report.DNSNoNames, Name: name}, failure(t, err).Facts)
}

// failure is the failure of ours err carries (the transport words it from its facts).
func failure(t *testing.T, err error) *report.Failed {
	t.Helper()
	var f *report.Failed
	require.ErrorAs(t, err, &f)
	return f
}
