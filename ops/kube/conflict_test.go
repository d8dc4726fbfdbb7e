package kube_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/nycmeshnet/cutoverbot/ops/kube"
	"github.com/nycmeshnet/cutoverbot/ops/kube/kubefake"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// racingProxy stands between the bot's client and the API server and calls race before
// passing on each request. On a real cluster another replica, a person with kubectl or
// an autoscaler can change an object between the bot's read and its write; race does
// that write, and the API server answers the bot's 409 Conflict. It returns a
// kubeconfig (context prod1) that reaches srv through the proxy.
func racingProxy(t *testing.T, srv *kubefake.Server, race func(r *http.Request)) string {
	t.Helper()
	target, err := url.Parse(srv.URL())
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(srv.CAPEM()))
	back := httputil.NewSingleHostReverseProxy(target)
	back.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
	front := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		race(r)
		back.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)

	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["prod1"] = &clientcmdapi.Cluster{Server: front.URL,
		CertificateAuthorityData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: front.Certificate().Raw})}
	cfg.AuthInfos["prod1"] = &clientcmdapi.AuthInfo{Token: srv.Token()}
	cfg.Contexts["prod1"] = &clientcmdapi.Context{Cluster: "prod1", AuthInfo: "prod1", Namespace: ns}
	cfg.CurrentContext = "prod1"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*cfg, path))
	return path
}

// scaleWrites counts the PUTs of a scale subresource and lets another writer scale the
// workload first, to the next of counts, for each of the first n of them.
type scaleWrites struct {
	mu     sync.Mutex
	puts   int
	n      int
	counts []int32
	other  *kube.Cluster
	t      *testing.T
}

func (s *scaleWrites) race(r *http.Request) {
	if r.Method != http.MethodPut || !strings.HasSuffix(r.URL.Path, "/scale") {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.puts++
	if s.puts > s.n {
		return
	}
	replicas := s.counts[(s.puts-1)%len(s.counts)]
	_, err := s.other.Scale(r.Context(), kube.StatefulSet, "meshdb-celery-worker", replicas, 10*time.Second, nil)
	assert.NoError(s.t, err, "the other writer's scale")
}

func (s *scaleWrites) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.puts
}

func TestScaleReadsAgainAfterAConflict(t *testing.T) {
	srv := startServer(t, kubefake.Options{})
	srv.AddStatefulSet(ns, "meshdb-celery-worker", 3, map[string]string{"app": "celery"})
	other, _ := connect(t, "prod1", map[string]*kubefake.Server{"prod1": srv})
	w := &scaleWrites{n: 1, counts: []int32{5}, other: other, t: t}
	c, err := kube.Connect(kube.Options{Name: "prod1", Kubeconfig: racingProxy(t, srv, w.race), Context: "prod1", Namespace: ns,
		Timeout: 10 * time.Second, PollInterval: 10 * time.Millisecond})
	require.NoError(t, err)

	prev, err := c.Scale(context.Background(), kube.StatefulSet, "meshdb-celery-worker", 0, 10*time.Second, nil)
	require.NoError(t, err)
	assert.Equal(t, int32(5), prev, "the previous count is the one the write replaced, the other writer's")
	assert.Equal(t, int32(0), srv.SpecReplicas(kubefake.KindStatefulSet, ns, "meshdb-celery-worker"))
	assert.Equal(t, 2, w.count(), "one write refused with 409, one after reading again")
}

func TestScaleGivesUpWhenEveryWriteConflicts(t *testing.T) {
	srv := startServer(t, kubefake.Options{})
	srv.AddStatefulSet(ns, "meshdb-celery-worker", 3, map[string]string{"app": "celery"})
	other, _ := connect(t, "prod1", map[string]*kubefake.Server{"prod1": srv})
	w := &scaleWrites{n: 1000, counts: []int32{4, 5}, other: other, t: t}
	c, err := kube.Connect(kube.Options{Name: "prod1", Kubeconfig: racingProxy(t, srv, w.race), Context: "prod1", Namespace: ns,
		Timeout: 10 * time.Second, PollInterval: 10 * time.Millisecond})
	require.NoError(t, err)

	_, err = c.Scale(context.Background(), kube.StatefulSet, "meshdb-celery-worker", 0, 10*time.Second, nil)
	require.Error(t, err)
	assert.True(t, apierrors.IsConflict(err), "the conflict is kept in the error: %v", err)
	assert.Equal(t, report.ScaleFailed{How: report.ScaleConflicting, Cluster: "prod1", Namespace: ns, Kind: "statefulset", Name: "meshdb-celery-worker", Replicas: 0, Attempts: 5},
		failure(t, err).Facts)
	assert.Equal(t, 5, w.count())
	assert.NotEqual(t, int32(0), srv.SpecReplicas(kubefake.KindStatefulSet, ns, "meshdb-celery-worker"), "the bot's write never landed")
}
