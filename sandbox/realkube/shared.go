package realkube

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// One control plane can serve every test of a test binary (Shared), each test in a
// namespace of its own (TestNamespace); the binary's TestMain calls CloseShared.
var (
	sharedOnce    sync.Once
	sharedCluster *Cluster
	sharedErr     error
	nsSeq         atomic.Int64
)

// Shared starts the test binary's control plane on first use, or skips the test when
// EnvEnable is not set.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	bins := Require(t)
	sharedOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cutoverbot-realkube-")
		if err != nil {
			sharedErr = err
			return
		}
		sharedCluster, sharedErr = Start(context.Background(), bins, Options{Dir: dir})
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return sharedCluster
}

// CloseShared stops the shared control plane, if one was started, and removes its files.
func CloseShared() {
	if sharedCluster != nil {
		sharedCluster.Close()
		os.RemoveAll(sharedCluster.Dir())
	}
}

// TestNamespace creates a namespace for one test, deleted when it ends.
func (c *Cluster) TestNamespace(t testing.TB, prefix string) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), nsSeq.Add(1))
	if err := c.EnsureNamespace(context.Background(), name, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.SetNamespaceExec(name, nil)
		_ = c.Admin.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

// SetNamespaceExec makes the commands exec'd in pods of namespace ns run fn (nil: the
// cluster's own Options.Exec again).
func (c *Cluster) SetNamespaceExec(ns string, fn ExecFunc) {
	k := c.kubelet
	k.mu.Lock()
	defer k.mu.Unlock()
	if fn == nil {
		delete(k.byNS, ns)
		return
	}
	k.byNS[ns] = fn
}

// MoveToNamespace sets the namespace of namespaced objects, and of the ServiceAccount
// subjects of RoleBindings, to ns: a manifest written for one namespace, used in another.
func MoveToNamespace(objs []*unstructured.Unstructured, ns string) {
	for _, o := range objs {
		if o.GetNamespace() != "" {
			o.SetNamespace(ns)
		}
		if subjects, ok := o.Object["subjects"].([]any); ok {
			for _, s := range subjects {
				if m, ok := s.(map[string]any); ok && m["kind"] == "ServiceAccount" {
					m["namespace"] = ns
				}
			}
		}
	}
}
