package kube_test

import (
	"crypto/tls"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/nycmeshnet/cutoverbot/sandbox/realkube"
)

// refuseWebSocketProxy puts a reverse proxy in front of the API server that answers
// WebSocket upgrades 400, as proxies without WebSocket support do, and passes everything
// else on (SPDY upgrades included). It returns its URL and CA.
func refuseWebSocketProxy(t *testing.T, c *realkube.Cluster) (string, []byte) {
	t.Helper()
	target, err := url.Parse(c.URL())
	require.NoError(t, err)
	rp := httputil.NewSingleHostReverseProxy(target)
	transport := http.DefaultTransport.(*http.Transport).Clone()
	pool, err := realkube.CertPool(c.CAPEM())
	require.NoError(t, err)
	transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	transport.ForceAttemptHTTP2 = false
	rp.Transport = transport
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "this proxy does not pass WebSocket upgrades", http.StatusBadRequest)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return srv.URL, ca
}

// rewriteServer points every cluster of a kubeconfig at url, trusting ca.
func rewriteServer(t *testing.T, path, url string, ca []byte) {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(path)
	require.NoError(t, err)
	for _, c := range cfg.Clusters {
		c.Server = url
		c.CertificateAuthorityData = ca
	}
	require.NoError(t, clientcmd.WriteToFile(*cfg, path))
}
