package tlswait_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/report"
	"github.com/nycmeshnet/cutoverbot/ops/snapshot/meshwebfake"
	"github.com/nycmeshnet/cutoverbot/ops/tlswait"
)

func TestWrongCertificateThenRightOne(t *testing.T) {
	ca, err := meshwebfake.NewCA("test CA")
	require.NoError(t, err)
	lb, err := meshwebfake.Start(meshwebfake.Options{ServiceHost: "db.nycmesh.net", CA: ca, OtherNames: []string{"sn10temp.nycmesh.net"},
		Data: func(context.Context, string) ([]byte, error) { return []byte("[]"), nil }, Maintenance: func(context.Context) (bool, error) { return false, nil }})
	require.NoError(t, err)
	t.Cleanup(lb.Close)

	_, err = tlswait.Check(context.Background(), lb.Addr(), "db.nycmesh.net", ca.Pool())
	require.Error(t, err, "the certificate is not for db.nycmesh.net yet")

	var attempts atomic.Int32
	cert, err := tlswait.Wait(context.Background(), lb.Addr(), "db.nycmesh.net", ca.Pool(), 20*time.Millisecond, 30*time.Second, func(n int, err error) {
		if attempts.Add(1) == 3 {
			require.NoError(t, lb.UseServiceCert()) // certbot succeeds
		}
	})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, attempts.Load(), int32(3))
	assert.Equal(t, []string{"db.nycmesh.net"}, cert.SANs)
	assert.Equal(t, "test CA", cert.Issuer)
	assert.True(t, cert.NotAfter.After(time.Now()))
}

func TestTimeoutSaysWhy(t *testing.T) {
	ca, err := meshwebfake.NewCA("test CA")
	require.NoError(t, err)
	lb, err := meshwebfake.Start(meshwebfake.Options{ServiceHost: "db.nycmesh.net", CA: ca,
		Data: func(context.Context, string) ([]byte, error) { return []byte("[]"), nil }, Maintenance: func(context.Context) (bool, error) { return false, nil }})
	require.NoError(t, err)
	t.Cleanup(lb.Close)
	_, err = tlswait.Wait(context.Background(), lb.Addr(), "db.nycmesh.net", ca.Pool(), 20*time.Millisecond, 200*time.Millisecond, nil)
	require.Error(t, err)
	var f *report.Failed
	require.ErrorAs(t, err, &f)
	wait, ok := f.Facts.(report.TLSWait)
	require.True(t, ok, "%T", f.Facts)
	assert.Equal(t, report.TLSWait{ServerName: "db.nycmesh.net", Address: lb.Addr(), Timeout: 200 * time.Millisecond, Attempts: wait.Attempts}, wait)
	assert.Positive(t, wait.Attempts)
	var last *report.Failed
	require.ErrorAs(t, f.Err, &last, "the last attempt's error is the cause")
	assert.Equal(t, report.TLSHandshake{Address: lb.Addr(), ServerName: "db.nycmesh.net"}, last.Facts)
	assert.Error(t, last.Err, "the handshake's own error")
}
