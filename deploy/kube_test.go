package deploy

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/nycmeshnet/cutoverbot/sandbox/realkube"
)

// TestManifestsAppliedToARealAPIServer renders the chart for each kind of install and applies
// every object with server-side apply to a real API server (`make e2e-kube`; skipped
// otherwise): validation, defaulting and admission are the real ones. The bot's namespace
// enforces Pod Security "restricted" (docs/operations.md labels it so), and the Deployment's
// ReplicaSet must get every pod past that admission. Each MeshDB cluster's Role for the bot
// (target-cluster/rbac.yaml) is applied to its namespace too.
func TestManifestsAppliedToARealAPIServer(t *testing.T) {
	bins := realkube.Require(t)
	ha, err := HAValues(namespace)
	require.NoError(t, err)
	one := OneReplicaValues()
	withService := OneReplicaValues()
	withService["service"] = map[string]any{"enabled": true}
	for _, install := range []struct {
		name   string
		values map[string]any
	}{{"one replica", one}, {"two replicas", ha}, {"with a service", withService}} {
		t.Run(install.name, func(t *testing.T) {
			ctx := context.Background()
			c, err := realkube.Start(ctx, bins, realkube.Options{Dir: t.TempDir()})
			require.NoError(t, err)
			t.Cleanup(c.Close)
			require.NoError(t, c.EnsureNamespace(ctx, namespace, map[string]string{
				"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/warn": "restricted"}))

			raw, err := RenderChart(ctx, namespace, install.values)
			require.NoError(t, err)
			objs, err := realkube.SplitYAML(raw)
			require.NoError(t, err)
			require.NotEmpty(t, objs)
			applied, err := c.Apply(ctx, objs, realkube.ApplyOptions{FieldManager: "helm"})
			require.NoError(t, err)
			require.Len(t, applied, len(objs))
			for _, a := range applied {
				assert.Empty(t, a.Warnings, "%s %s: the API server warned", a.Object.GetKind(), a.Object.GetName())
			}

			// Pod Security is on: a pod with no security context is refused there...
			_, err = c.Admin.CoreV1().Pods(namespace).Create(ctx, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "unhardened"},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			require.Error(t, err, "an unhardened pod must be refused")
			assert.Contains(t, err.Error(), `violates PodSecurity "restricted`)

			// ...and the bot's pods get through it: the ReplicaSet controller creates them all.
			dep, err := c.Admin.AppsV1().Deployments(namespace).Get(ctx, "cutoverbot", metav1.GetOptions{})
			require.NoError(t, err)
			want := int(*dep.Spec.Replicas)
			selector := metav1.FormatLabelSelector(dep.Spec.Selector)
			var last string
			err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
				if rss, err := c.Admin.AppsV1().ReplicaSets(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector}); err == nil {
					for _, rs := range rss.Items {
						for _, cond := range rs.Status.Conditions {
							last = cond.Message
						}
					}
				}
				pods, err := c.Admin.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
				return err == nil && len(pods.Items) == want, nil
			})
			require.NoError(t, err, "%d pods of the bot created (the ReplicaSet says: %s)", want, last)

			require.NoError(t, c.EnsureNamespace(ctx, "meshdb", nil))
			rbac, err := realkube.SplitYAML(TargetClusterRBAC)
			require.NoError(t, err)
			applied, err = c.Apply(ctx, rbac, realkube.ApplyOptions{FieldManager: "kubectl"})
			require.NoError(t, err)
			assert.Len(t, applied, 3)
		})
	}
}
