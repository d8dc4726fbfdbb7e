package store_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/client-go/kubernetes"

	"github.com/nycmeshnet/cutoverbot/ops/kube"
	"github.com/nycmeshnet/cutoverbot/ops/kube/kubefake"
	"github.com/nycmeshnet/cutoverbot/sandbox/realcluster"
	"github.com/nycmeshnet/cutoverbot/sandbox/realkube"
)

// TestMain closes the real control plane the Kubernetes store tests share, if started.
func TestMain(m *testing.M) {
	code := m.Run()
	realkube.CloseShared()
	os.Exit(code)
}

// eachStoreBackend runs f against kubefake and, when realkube.EnvEnable is set, against a
// real API server as the bot's ServiceAccount with the Role the chart (deploy/helm) gives it. Both
// clients are real client-go built from a kubeconfig like the bot's.
func eachStoreBackend(t *testing.T, f func(t *testing.T, c kubernetes.Interface, ns string)) {
	t.Run("kubefake", func(t *testing.T) {
		_, path := kubefake.StartForTest(t, kubefake.Options{}, "home")
		f(t, connectHome(t, path, "cutoverbot"), "cutoverbot")
	})
	if os.Getenv(realkube.EnvEnable) == "" {
		return
	}
	t.Run("real", func(t *testing.T) {
		c := realkube.Shared(t)
		ns := c.TestNamespace(t, "state")
		// The identity the chart gives a two-replica install.
		token, err := realcluster.StateIdentity(context.Background(), c, ns)
		require.NoError(t, err)
		path := filepath.Join(t.TempDir(), "kubeconfig")
		require.NoError(t, realkube.WriteKubeconfig(path, map[string]realkube.Context{"home": {Cluster: c, Token: token}}))
		f(t, connectHome(t, path, ns), ns)
	})
}

func connectHome(t *testing.T, path, ns string) kubernetes.Interface {
	t.Helper()
	cl, err := kube.Connect(kube.Options{Name: "home", Kubeconfig: path, Context: "home", Namespace: ns})
	require.NoError(t, err)
	return cl.Clientset()
}
