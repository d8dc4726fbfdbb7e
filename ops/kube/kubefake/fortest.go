package kubefake

import (
	"path/filepath"
	"testing"
)

// StartForTest starts a local API server for t, closed when t ends, and writes a
// kubeconfig whose one context, named context, points at it. It fails t when either
// cannot be done.
func StartForTest(t testing.TB, opts Options, context string) (srv *Server, kubeconfig string) {
	t.Helper()
	srv, err := Start(opts)
	if err != nil {
		t.Fatalf("kubefake: start: %v", err)
	}
	t.Cleanup(srv.Close)
	kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	if err := WriteKubeconfig(kubeconfig, map[string]*Server{context: srv}); err != nil {
		t.Fatalf("kubefake: %v", err)
	}
	return srv, kubeconfig
}
