// Package tlswait waits for the load balancer to present a certificate valid for the
// service host: certbot's HTTP-01 only succeeds once DNS points at that LB.
package tlswait

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// Cert describes the certificate that passed verification.
type Cert struct {
	SANs     []string
	NotAfter time.Time
	Issuer   string
}

func (c Cert) String() string {
	return fmt.Sprintf("valid for %s, issued by %s, expires %s", strings.Join(c.SANs, ", "), c.Issuer, c.NotAfter.UTC().Format("2006-01-02"))
}

// Check makes one verified TLS handshake to addr with SNI serverName.
func Check(ctx context.Context, addr, serverName string, roots *x509.CertPool) (Cert, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: &tls.Config{ServerName: serverName, RootCAs: roots, MinVersion: tls.VersionTLS12}}
	hctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	conn, err := d.DialContext(hctx, "tcp", addr)
	if err != nil {
		return Cert{}, report.Fail(report.TLSHandshake{Address: addr, ServerName: serverName}, err)
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return Cert{}, report.Fail(report.TLSHandshake{NoCert: true}, nil)
	}
	leaf := certs[0]
	return Cert{SANs: leaf.DNSNames, NotAfter: leaf.NotAfter, Issuer: leaf.Issuer.CommonName}, nil
}

// Wait checks every `every` until a handshake verifies or timeout passes; progress
// hears each failed attempt.
func Wait(ctx context.Context, addr, serverName string, roots *x509.CertPool, every, timeout time.Duration, progress func(attempt int, err error)) (Cert, error) {
	var (
		cert    Cert
		attempt int
		last    error
	)
	err := wait.PollUntilContextTimeout(ctx, every, timeout, true, func(ctx context.Context) (bool, error) {
		attempt++
		c, err := Check(ctx, addr, serverName, roots)
		if err != nil {
			last = err
			if progress != nil {
				progress(attempt, err)
			}
			return false, nil
		}
		cert = c
		return true, nil
	})
	if err != nil {
		if last == nil {
			last = err
		}
		return Cert{}, report.Fail(report.TLSWait{ServerName: serverName, Address: addr, Timeout: timeout, Attempts: attempt}, last)
	}
	return cert, nil
}
