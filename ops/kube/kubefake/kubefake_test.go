package kubefake_test

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/nycmeshnet/cutoverbot/ops/kube"
	"github.com/nycmeshnet/cutoverbot/ops/kube/kubefake"
)

const ns = "meshdb"

// start returns a server and a real clientset built from a written kubeconfig.
func start(t *testing.T, opts kubefake.Options) (*kubefake.Server, *rest.Config, kubernetes.Interface) {
	t.Helper()
	srv, err := kubefake.Start(opts)
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, kubefake.WriteKubeconfig(path, map[string]*kubefake.Server{"test": srv}))
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	require.NoError(t, err)
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	return srv, cfg, cs
}

func TestDiscovery(t *testing.T) {
	_, _, cs := start(t, kubefake.Options{})
	v, err := cs.Discovery().ServerVersion()
	require.NoError(t, err)
	assert.Equal(t, "v1.37.2-kubefake", v.GitVersion)

	for gv, want := range map[string]string{"v1": "pods/exec", "apps/v1": "statefulsets/scale", "coordination.k8s.io/v1": "leases"} {
		list, err := cs.Discovery().ServerResourcesForGroupVersion(gv)
		require.NoError(t, err, gv)
		var names []string
		for _, r := range list.APIResources {
			names = append(names, r.Name)
		}
		assert.Contains(t, names, want, gv)
	}
	groups, err := cs.Discovery().ServerGroups()
	require.NoError(t, err)
	var names []string
	for _, g := range groups.Groups {
		names = append(names, g.Name)
	}
	assert.Contains(t, names, "apps")
	assert.Contains(t, names, "coordination.k8s.io")
}

func TestScalePatchTypes(t *testing.T) {
	cases := []struct {
		pt    types.PatchType
		patch string
	}{
		{types.MergePatchType, `{"spec":{"replicas":0}}`},
		{types.StrategicMergePatchType, `{"spec":{"replicas":0}}`},
		{types.JSONPatchType, `[{"op":"replace","path":"/spec/replicas","value":0}]`},
	}
	for _, tc := range cases {
		t.Run(string(tc.pt), func(t *testing.T) {
			srv, _, cs := start(t, kubefake.Options{ScaleDelay: -1})
			srv.AddDeployment(ns, "meshweb", 2, map[string]string{"app": "web"})
			// The typed Patch would decode the answer as a Deployment; the answer is a Scale.
			sc := &autoscalingv1.Scale{}
			err := cs.AppsV1().RESTClient().Patch(tc.pt).Namespace(ns).Resource("deployments").Name("meshweb").
				SubResource("scale").Body([]byte(tc.patch)).Do(context.Background()).Into(sc)
			require.NoError(t, err)
			assert.Equal(t, int32(0), sc.Spec.Replicas)
			assert.Equal(t, int32(0), srv.SpecReplicas(kubefake.KindDeployment, ns, "meshweb"))
			d, err := cs.AppsV1().Deployments(ns).Get(context.Background(), "meshweb", metav1.GetOptions{})
			require.NoError(t, err)
			assert.Equal(t, int32(0), d.Status.Replicas, "ScaleDelay -1 settles status at once")
		})
	}
}

func TestScaleStatusLagsAndResourceVersionBumps(t *testing.T) {
	srv, _, cs := start(t, kubefake.Options{ScaleDelay: 300 * time.Millisecond})
	srv.AddStatefulSet(ns, "celery", 1, map[string]string{"app": "celery"})
	ctx := context.Background()
	sc, err := cs.AppsV1().StatefulSets(ns).GetScale(ctx, "celery", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "app=celery", sc.Status.Selector)
	stale := sc.DeepCopy()
	sc.Spec.Replicas = 4
	updated, err := cs.AppsV1().StatefulSets(ns).UpdateScale(ctx, "celery", sc, metav1.UpdateOptions{})
	require.NoError(t, err)
	assert.NotEqual(t, sc.ResourceVersion, updated.ResourceVersion)
	assert.Equal(t, int32(1), updated.Status.Replicas, "status has not caught up yet")

	_, err = cs.AppsV1().StatefulSets(ns).UpdateScale(ctx, "celery", stale, metav1.UpdateOptions{})
	assert.True(t, apierrors.IsConflict(err), "stale resourceVersion: %v", err)

	require.Eventually(t, func() bool { return srv.StatusReplicas(kubefake.KindStatefulSet, ns, "celery") == 4 },
		10*time.Second, 10*time.Millisecond)
}

func TestLeaseOptimisticConcurrency(t *testing.T) {
	_, _, cs := start(t, kubefake.Options{})
	ctx := context.Background()
	leases := cs.CoordinationV1().Leases(ns)
	holder := "bot-a"
	created, err := leases.Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "cutoverbot"},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	assert.Equal(t, ns, created.Namespace)

	_, err = leases.Create(ctx, created, metav1.CreateOptions{})
	assert.True(t, apierrors.IsAlreadyExists(err), "%v", err)

	holderB := "bot-b"
	first := created.DeepCopy()
	first.Spec.HolderIdentity = &holderB
	_, err = leases.Update(ctx, first, metav1.UpdateOptions{})
	require.NoError(t, err)

	second := created.DeepCopy() // same, now stale, resourceVersion
	_, err = leases.Update(ctx, second, metav1.UpdateOptions{})
	assert.True(t, apierrors.IsConflict(err), "%v", err)

	got, err := leases.Get(ctx, "cutoverbot", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "bot-b", *got.Spec.HolderIdentity)
	list, err := leases.List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Len(t, list.Items, 1)
}

func TestConfigMapsAndPodListsWithSelectors(t *testing.T) {
	srv, _, cs := start(t, kubefake.Options{})
	ctx := context.Background()
	_, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "state", Labels: map[string]string{"app": "bot"}},
		Data:       map[string]string{"step": "3"},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "state", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "3", cm.Data["step"])

	srv.AddPod(ns, "web-1", map[string]string{"app": "web", "track": "stable"}, map[string]string{"web": "x@sha256:1"}, true, time.Time{})
	srv.AddPod(ns, "web-2", map[string]string{"app": "web", "track": "canary"}, map[string]string{"web": "x@sha256:2"}, false, time.Time{})
	srv.AddPod("other", "web-3", map[string]string{"app": "web"}, map[string]string{"web": "x@sha256:3"}, true, time.Time{})
	for sel, want := range map[string][]string{
		"app=web":                      {"web-1", "web-2"},
		"app=web,track notin (canary)": {"web-1"},
		"track":                        {"web-1", "web-2"},
		"app=db":                       nil,
	} {
		list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
		require.NoError(t, err, sel)
		var names []string
		for _, p := range list.Items {
			names = append(names, p.Name)
			assert.Equal(t, corev1.PodRunning, p.Status.Phase)
			assert.True(t, strings.HasPrefix(p.Status.ContainerStatuses[0].ImageID, "x@sha256:"))
		}
		assert.Equal(t, want, names, sel)
	}
}

func TestWatchPods(t *testing.T) {
	srv, _, cs := start(t, kubefake.Options{})
	srv.AddPod(ns, "web-1", map[string]string{"app": "web"}, map[string]string{"web": "x@sha256:1"}, false, time.Time{})
	w, err := cs.CoreV1().Pods(ns).Watch(context.Background(), metav1.ListOptions{LabelSelector: "app=web"})
	require.NoError(t, err)
	defer w.Stop()

	next := func() watch.Event {
		select {
		case ev := <-w.ResultChan():
			return ev
		case <-time.After(10 * time.Second):
			t.Fatal("no watch event")
			return watch.Event{}
		}
	}
	ev := next()
	assert.Equal(t, watch.Added, ev.Type)
	srv.AddPod(ns, "db-1", map[string]string{"app": "db"}, map[string]string{"pg": "x@sha256:2"}, true, time.Time{})
	srv.SetPodReady(ns, "web-1", true)
	ev = next()
	require.Equal(t, watch.Modified, ev.Type, "the db pod is not selected")
	pod := ev.Object.(*corev1.Pod)
	assert.Equal(t, "web-1", pod.Name)
	assert.Equal(t, corev1.ConditionTrue, podReady(pod))
}

func podReady(p *corev1.Pod) corev1.ConditionStatus {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status
		}
	}
	return ""
}

// TestExecWebSocketV4 covers the older WebSocket protocol, which the kubelet's ServeExec
// serves; without the v5 CLOSE signal there is no stdin, so the command only writes.
func TestExecWebSocketV4(t *testing.T) {
	srv, cfg, cs := start(t, kubefake.Options{})
	srv.AddPod(ns, "pg-0", nil, map[string]string{"postgres": "pg@sha256:1"}, true, time.Time{})
	srv.SetExecHandler(func(_ context.Context, req kubefake.ExecRequest) (int, error) {
		io.WriteString(req.Stdout, strings.Join(req.Command, " "))
		io.WriteString(req.Stderr, "warn")
		return 0, nil
	})
	u := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name("pg-0").SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Command: []string{"psql", "-c", "select 1"}, Stdout: true, Stderr: true}, scheme.ParameterCodec).URL()
	ex, err := remotecommand.NewWebSocketExecutorForProtocols(cfg, "GET", u.String(), "v4.channel.k8s.io")
	require.NoError(t, err)
	var out, errb bytes.Buffer
	require.NoError(t, ex.StreamWithContext(context.Background(), remotecommand.StreamOptions{Stdout: &out, Stderr: &errb}))
	assert.Equal(t, "psql -c select 1", out.String())
	assert.Equal(t, "warn", errb.String())
	last := srv.LastExec()
	assert.Equal(t, kubefake.TransportWebSocket, last.Transport)
	assert.Equal(t, "v4.channel.k8s.io", last.Protocol)
	assert.Equal(t, "postgres", last.Container, "the only container is the default")
}

func TestDisabledWebSocketIsAnUpgradeFailure(t *testing.T) {
	srv, cfg, cs := start(t, kubefake.Options{})
	srv.AddPod(ns, "pg-0", nil, map[string]string{"postgres": "pg@sha256:1"}, true, time.Time{})
	srv.DisableWebSocketExec(true)
	u := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name("pg-0").SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Command: []string{"true"}, Stdout: true}, scheme.ParameterCodec).URL()
	ex, err := remotecommand.NewWebSocketExecutor(cfg, "GET", u.String())
	require.NoError(t, err)
	err = ex.StreamWithContext(context.Background(), remotecommand.StreamOptions{Stdout: io.Discard})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "DisableWebSocketExec")
	assert.Zero(t, srv.ExecCount())
}

// TestInformerSyncs runs a real shared informer, which in client-go v0.37 may start with a
// watch-list (WATCH with sendInitialEvents) instead of LIST.
func TestInformerSyncs(t *testing.T) {
	srv, _, cs := start(t, kubefake.Options{})
	srv.AddPod(ns, "web-1", map[string]string{"app": "web"}, map[string]string{"web": "x@sha256:1"}, true, time.Time{})
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns))
	lister := factory.Core().V1().Pods().Lister()
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop); factory.Shutdown() })
	factory.Start(stop)
	for typ, ok := range factory.WaitForCacheSync(stop) {
		require.True(t, ok, "cache of %v did not sync", typ)
	}
	_, err := lister.Pods(ns).Get("web-1")
	require.NoError(t, err)

	srv.AddPod(ns, "web-2", map[string]string{"app": "web"}, map[string]string{"web": "x@sha256:2"}, true, time.Time{})
	require.Eventually(t, func() bool {
		_, err := lister.Pods(ns).Get("web-2")
		return err == nil
	}, 10*time.Second, 10*time.Millisecond)
}

// A denied permission is refused with 403 on the real request and answered "not
// allowed" by a SelfSubjectAccessReview; others are untouched.
func TestDenyForbidsRequestsAndAnswersReviews(t *testing.T) {
	srv, path := kubefake.StartForTest(t, kubefake.Options{}, "c")
	cl, err := kube.Connect(kube.Options{Name: "c", Kubeconfig: path, Context: "c", Namespace: "meshdb"})
	require.NoError(t, err)
	ctx := context.Background()
	missing, err := cl.Missing(ctx, kube.PlanAccess)
	require.NoError(t, err)
	assert.Empty(t, missing)

	srv.Deny(kubefake.Permission{Verb: "list", Resource: "pods"})
	_, err = cl.Clientset().CoreV1().Pods("meshdb").List(ctx, metav1.ListOptions{})
	require.Error(t, err)
	assert.True(t, apierrors.IsForbidden(err), "%v", err)
	_, err = cl.Clientset().CoreV1().ConfigMaps("meshdb").List(ctx, metav1.ListOptions{})
	assert.NoError(t, err)
	missing, err = cl.Missing(ctx, kube.PlanAccess)
	require.NoError(t, err)
	assert.Equal(t, "list pods", kube.DescribeMissing(missing))
}

// A stalled server holds every request: it is served once the stall ends, and let go
// when its client gives up.
func TestStalledRequestsWaitUntilReleasedOrGivenUp(t *testing.T) {
	srv, _, cs := start(t, kubefake.Options{})
	cms := cs.CoreV1().ConfigMaps(ns)
	srv.SetStalled(true)

	created := make(chan error, 1)
	go func() {
		_, err := cms.Create(context.Background(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "held"}}, metav1.CreateOptions{})
		created <- err
	}()
	require.Eventually(t, func() bool { return srv.Stalled() == 1 }, 10*time.Second, time.Millisecond)
	select {
	case err := <-created:
		t.Fatalf("a stalled server answered: %v", err)
	default:
	}
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() { _, err := cms.Get(ctx, "held", metav1.GetOptions{}); got <- err }()
	require.Eventually(t, func() bool { return srv.Stalled() == 2 }, 10*time.Second, time.Millisecond)
	cancel()
	require.ErrorIs(t, <-got, context.Canceled)
	require.Eventually(t, func() bool { return srv.Stalled() == 1 }, 10*time.Second, time.Millisecond, "the given-up request is let go")

	srv.SetStalled(false)
	require.NoError(t, <-created, "the held create is served")
	_, err := cms.Get(context.Background(), "held", metav1.GetOptions{})
	assert.NoError(t, err)
	assert.Zero(t, srv.Stalled())
}
