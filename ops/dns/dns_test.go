package dns_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/dns"
	"github.com/nycmeshnet/cutoverbot/ops/dns/dnsfake"
)

const (
	name = "db.nycmesh.net"
	sn3  = "kubernetes-lb-prod-sn3.nycmesh.net"
	sn10 = "kubernetes-lb-prod-sn10.nycmesh.net"
)

func resolvers(t *testing.T, n int) []*dnsfake.Server {
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
	a := dns.Query(context.Background(), rs[0].Addr(), name)
	require.NoError(t, a.Err)
	assert.Equal(t, sn10, a.CNAME)
	assert.Equal(t, []string{"23.158.16.22"}, a.A)
	a = dns.Query(context.Background(), rs[0].Addr(), "nothing.nycmesh.net")
	assert.ErrorContains(t, a.Err, "NXDOMAIN")
}

func TestPropagationWithALaggingResolver(t *testing.T) {
	rs := resolvers(t, 3)
	var polls atomic.Int32
	answers, err := dns.Wait(context.Background(), dns.WaitOptions{Name: name, Want: sn3 + ".", Resolvers: addrs(rs), Every: 10 * time.Millisecond, Timeout: 20 * time.Second,
		Progress: func(a []dns.Answer) {
			switch polls.Add(1) {
			case 2:
				rs[0].SetCNAME(name, sn3) // the change reaches two resolvers first
				rs[1].SetCNAME(name, sn3)
			case 5:
				rs[2].SetCNAME(name, sn3) // and the lagging one later
			}
		}})
	require.NoError(t, err)
	assert.Equal(t, int32(6), polls.Load(), "done on the first poll where all three agree")
	for _, a := range answers {
		assert.Equal(t, sn3, a.CNAME)
	}
}

func TestTimeoutListsEveryAnswer(t *testing.T) {
	rs := resolvers(t, 2)
	rs[0].SetCNAME(name, sn3)
	rs[1].SetDrop(true) // this resolver never answers
	_, err := dns.Wait(context.Background(), dns.WaitOptions{Name: name, Want: sn3, Resolvers: addrs(rs), Every: 10 * time.Millisecond, Timeout: 300 * time.Millisecond})
	require.Error(t, err)
	assert.Contains(t, err.Error(), rs[0].Addr()+": CNAME "+sn3)
	assert.Contains(t, err.Error(), rs[1].Addr()+": ")
	assert.Contains(t, err.Error(), "did not point at "+sn3)
}
