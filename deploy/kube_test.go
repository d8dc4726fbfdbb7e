package deploy

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/nycmeshnet/cutoverbot/sandbox/realkube"
)

// TestManifestsAppliedToARealAPIServer renders each overlay with kustomize and applies
// every object with server-side apply to a real API server (`make e2e-kube`; skipped
// otherwise): validation, defaulting and admission are the real ones. The bot's namespace
// enforces Pod Security "restricted", and the Deployment's ReplicaSet must get its pods past
// that admission. The MeshDB clusters' RBAC is applied to its namespace too.
func TestManifestsAppliedToARealAPIServer(t *testing.T) {
	bins := realkube.Require(t)
	for _, overlay := range []string{"overlays/example", "overlays/ha"} {
		t.Run(overlay, func(t *testing.T) {
			ctx := context.Background()
			c, err := realkube.Start(ctx, bins, realkube.Options{Dir: t.TempDir()})
			require.NoError(t, err)
			t.Cleanup(c.Close)

			var rendered bytes.Buffer
			cmd := exec.Command(bins.Kustomize, "build", overlay)
			cmd.Stdout, cmd.Stderr = &rendered, os.Stderr
			require.NoError(t, cmd.Run(), "kustomize build %s", overlay)
			objs, err := realkube.SplitYAML(rendered.Bytes())
			require.NoError(t, err)
			require.NotEmpty(t, objs)
			applied, err := c.Apply(ctx, objs, realkube.ApplyOptions{FieldManager: "cutoverbot-deploy"})
			require.NoError(t, err)
			require.Len(t, applied, len(objs))
			for _, a := range applied {
				assert.Empty(t, a.Warnings, "%s %s: the API server warned", a.Object.GetKind(), a.Object.GetName())
			}

			ns, err := c.Admin.CoreV1().Namespaces().Get(ctx, "cutoverbot", metav1.GetOptions{})
			require.NoError(t, err)
			assert.Equal(t, "restricted", ns.Labels["pod-security.kubernetes.io/enforce"], "the bot's namespace enforces restricted")

			// Pod Security is on: a pod with no security context is refused there...
			_, err = c.Admin.CoreV1().Pods("cutoverbot").Create(ctx, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "unhardened"},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			require.Error(t, err, "an unhardened pod must be refused")
			assert.Contains(t, err.Error(), `violates PodSecurity "restricted`)

			// ...and the bot's pods get through it: the ReplicaSet controller creates them all.
			dep, err := c.Admin.AppsV1().Deployments("cutoverbot").Get(ctx, "cutoverbot", metav1.GetOptions{})
			require.NoError(t, err)
			want := int(*dep.Spec.Replicas)
			var last string
			err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
				pods, err := c.Admin.CoreV1().Pods("cutoverbot").List(ctx, metav1.ListOptions{LabelSelector: "app=cutoverbot"})
				if err != nil {
					return false, nil
				}
				rss, err := c.Admin.AppsV1().ReplicaSets("cutoverbot").List(ctx, metav1.ListOptions{LabelSelector: "app=cutoverbot"})
				if err == nil {
					for _, rs := range rss.Items {
						for _, cond := range rs.Status.Conditions {
							last = cond.Message
						}
					}
				}
				return len(pods.Items) == want, nil
			})
			require.NoError(t, err, "%d pods of the bot created (ReplicaSet says: %s)", want, last)

			// Each MeshDB cluster's Role for the bot, in its namespace.
			require.NoError(t, c.EnsureNamespace(ctx, "meshdb", nil))
			rbac, err := realkube.SplitYAML(TargetClusterRBAC)
			require.NoError(t, err)
			applied, err = c.Apply(ctx, rbac, realkube.ApplyOptions{FieldManager: "cutoverbot-deploy"})
			require.NoError(t, err)
			assert.Len(t, applied, 3)
		})
	}
}
