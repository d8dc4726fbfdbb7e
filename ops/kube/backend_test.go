package kube_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/nycmeshnet/cutoverbot/deploy"
	"github.com/nycmeshnet/cutoverbot/ops/kube"
	"github.com/nycmeshnet/cutoverbot/ops/kube/kubefake"
	"github.com/nycmeshnet/cutoverbot/sandbox/realkube"
)

// The contract tests (contract_test.go) run against every backend: kubefake always, and a
// real API server (sandbox/realkube) when realkube.EnvEnable is set. Where the two answer
// differently, the real one is right and kubefake is fixed.

// execFn runs a command exec'd in a pod, on either backend.
type execFn func(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error)

type backendOptions struct {
	// stuckWorkloads makes workloads never finish scaling up.
	stuckWorkloads bool
	// noWebSocket puts a proxy that refuses WebSocket upgrades in front of the API server,
	// so the client must fall back to SPDY.
	noWebSocket bool
}

// backend is one API server with a namespace of its own, reached as the bot's identity.
type backend interface {
	// connect returns the bot's view of the namespace, as cluster prod1.
	connect(t *testing.T) *kube.Cluster
	// connectWithToken is connect with another bearer token.
	connectWithToken(t *testing.T, token string) *kube.Cluster
	// addPod adds a pod that is Running and (if ready) Ready; containers maps each
	// container to the image ID its node reports. Pods added later are newer.
	addPod(t *testing.T, name string, labels, containers map[string]string, ready bool)
	setPodReady(t *testing.T, name string, ready bool)
	setPodPhase(t *testing.T, name string, phase corev1.PodPhase)
	// addWorkload adds a StatefulSet or Deployment with replicas ready pods.
	addWorkload(t *testing.T, kind kube.Workload, name string, replicas int32, labels map[string]string)
	specReplicas(t *testing.T, kind kube.Workload, name string) int32
	// watchStatus watches a workload from now on; the function it returns gives the
	// distinct status.replicas values seen so far, in order.
	watchStatus(t *testing.T, kind kube.Workload, name string) func() []int32
	// deny takes one permission away from the bot's identity.
	deny(t *testing.T, a kube.Access)
	setExec(fn execFn)
	execCount() int
}

type backendKind struct {
	name  string
	start func(t *testing.T, o backendOptions) backend
}

// backends lists kubefake and, with realkube.EnvEnable set, the real API server.
func backends() []backendKind {
	out := []backendKind{{"kubefake", startFakeBackend}}
	if os.Getenv(realkube.EnvEnable) != "" {
		out = append(out, backendKind{"real", startRealBackend})
	}
	return out
}

// eachBackend runs f as a subtest per backend.
func eachBackend(t *testing.T, o backendOptions, f func(t *testing.T, b backend)) {
	for _, k := range backends() {
		t.Run(k.name, func(t *testing.T) { f(t, k.start(t, o)) })
	}
}

// --- kubefake ---

type fakeBackend struct {
	srv   *kubefake.Server
	added time.Time
}

func startFakeBackend(t *testing.T, o backendOptions) backend {
	opts := kubefake.Options{ScaleDelay: 300 * time.Millisecond}
	if o.stuckWorkloads {
		opts.ScaleDelay = time.Hour
	}
	srv := startServer(t, opts)
	srv.DisableWebSocketExec(o.noWebSocket)
	return &fakeBackend{srv: srv, added: time.Now().Add(-time.Hour)}
}

func (f *fakeBackend) connect(t *testing.T) *kube.Cluster {
	c, _ := connect(t, "prod1", map[string]*kubefake.Server{"prod1": f.srv})
	return c
}

func (f *fakeBackend) connectWithToken(t *testing.T, token string) *kube.Cluster {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, kubefake.WriteKubeconfig(path, map[string]*kubefake.Server{"prod1": f.srv}))
	cfg, err := clientcmd.LoadFromFile(path)
	require.NoError(t, err)
	cfg.AuthInfos["prod1"].Token = token
	require.NoError(t, clientcmd.WriteToFile(*cfg, path))
	c, err := kube.Connect(kube.Options{Name: "prod1", Kubeconfig: path, Context: "prod1", Namespace: ns})
	require.NoError(t, err)
	return c
}

func (f *fakeBackend) addPod(t *testing.T, name string, labels, containers map[string]string, ready bool) {
	f.added = f.added.Add(time.Second)
	f.srv.AddPod(ns, name, labels, containers, ready, f.added)
}

func (f *fakeBackend) setPodReady(t *testing.T, name string, ready bool) {
	f.srv.SetPodReady(ns, name, ready)
}
func (f *fakeBackend) setPodPhase(t *testing.T, name string, phase corev1.PodPhase) {
	f.srv.SetPodPhase(ns, name, phase)
}

func (f *fakeBackend) addWorkload(t *testing.T, kind kube.Workload, name string, replicas int32, labels map[string]string) {
	if kind == kube.StatefulSet {
		f.srv.AddStatefulSet(ns, name, replicas, labels)
	} else {
		f.srv.AddDeployment(ns, name, replicas, labels)
	}
}

func (f *fakeBackend) specReplicas(t *testing.T, kind kube.Workload, name string) int32 {
	return f.srv.SpecReplicas(string(kind), ns, name)
}

func (f *fakeBackend) deny(t *testing.T, a kube.Access) { f.srv.Deny(a) }

func (f *fakeBackend) watchStatus(t *testing.T, kind kube.Workload, name string) func() []int32 {
	return watchReplicas(t, f.connect(t).Clientset(), ns, kind, name)
}

func (f *fakeBackend) setExec(fn execFn) {
	f.srv.SetExecHandler(func(ctx context.Context, req kubefake.ExecRequest) (int, error) {
		return fn(ctx, req.Command, req.Stdin, req.Stdout, req.Stderr)
	})
}

func (f *fakeBackend) execCount() int { return f.srv.ExecCount() }

// --- a real API server ---

// realBackend is a namespace of the shared real control plane, reached as the bot's
// ServiceAccount from deploy/target-cluster/rbac.yaml.
type realBackend struct {
	c     *realkube.Cluster
	ns    string
	opts  backendOptions
	proxy string // URL of the WebSocket-refusing proxy, if any
	caPEM []byte
	last  time.Time
}

func startRealBackend(t *testing.T, o backendOptions) backend {
	c := realkube.Shared(t)
	name := c.TestNamespace(t, "contract")
	// The bot's identity: deploy/target-cluster/rbac.yaml, moved to this namespace.
	objs, err := realkube.SplitYAML(deploy.TargetClusterRBAC)
	require.NoError(t, err)
	realkube.MoveToNamespace(objs, name)
	_, err = c.Apply(context.Background(), objs, realkube.ApplyOptions{})
	require.NoError(t, err)
	b := &realBackend{c: c, ns: name, opts: o, caPEM: c.CAPEM()}
	if o.noWebSocket {
		b.proxy, b.caPEM = refuseWebSocketProxy(t, c)
	}
	return b
}

func (r *realBackend) connect(t *testing.T) *kube.Cluster {
	t.Helper()
	token, err := r.c.ServiceAccountToken(context.Background(), r.ns, "cutoverbot", time.Hour)
	require.NoError(t, err)
	return r.connectWithToken(t, token)
}

func (r *realBackend) connectWithToken(t *testing.T, token string) *kube.Cluster {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, realkube.WriteKubeconfig(path, map[string]realkube.Context{"prod1": {Cluster: r.c, Token: token}}))
	if r.proxy != "" {
		rewriteServer(t, path, r.proxy, r.caPEM)
	}
	c, err := kube.Connect(kube.Options{Name: "prod1", Kubeconfig: path, Context: "prod1", Namespace: r.ns,
		Timeout: 20 * time.Second, PollInterval: 20 * time.Millisecond})
	require.NoError(t, err)
	return c
}

// addPod creates the pod on the node, waits for kwok to report it Running and Ready, then
// reports what a kubelet would: the image IDs given, and readiness.
func (r *realBackend) addPod(t *testing.T, name string, labels, containers map[string]string, ready bool) {
	t.Helper()
	ctx := context.Background()
	images := map[string]string{}
	for c, id := range containers {
		if i := strings.Index(id, "://"); i >= 0 {
			id = id[i+3:]
		}
		images[c] = id
	}
	// creationTimestamp has one-second resolution: a pod added later must be newer.
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		return time.Now().Unix() > r.last.Unix(), nil
	}))
	p, err := r.c.CreatePod(ctx, r.ns, name, labels, images)
	require.NoError(t, err)
	r.last = p.CreationTimestamp.Time
	r.waitPod(t, name, realkube.PodReady)
	r.updateStatus(t, name, func(p *corev1.Pod) {
		for i := range p.Status.ContainerStatuses {
			p.Status.ContainerStatuses[i].ImageID = containers[p.Status.ContainerStatuses[i].Name]
		}
		setReadyStatus(p, ready)
	})
}

func (r *realBackend) waitPod(t *testing.T, name string, cond func(*corev1.Pod) bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := r.c.Admin.CoreV1().Pods(r.ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil && cond(p), nil
	})
	require.NoError(t, err, "pod %s/%s", r.ns, name)
}

func (r *realBackend) updateStatus(t *testing.T, name string, change func(*corev1.Pod)) {
	t.Helper()
	ctx := context.Background()
	p, err := r.c.Admin.CoreV1().Pods(r.ns).Get(ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	change(p)
	_, err = r.c.Admin.CoreV1().Pods(r.ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	require.NoError(t, err)
}

func setReadyStatus(p *corev1.Pod, ready bool) {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	for i := range p.Status.Conditions {
		if t := p.Status.Conditions[i].Type; t == corev1.PodReady || t == corev1.ContainersReady {
			p.Status.Conditions[i].Status = status
		}
	}
	for i := range p.Status.ContainerStatuses {
		p.Status.ContainerStatuses[i].Ready = ready
	}
}

func (r *realBackend) setPodReady(t *testing.T, name string, ready bool) {
	r.updateStatus(t, name, func(p *corev1.Pod) { setReadyStatus(p, ready) })
}

// setPodPhase reports the phase as a kubelet does: a pod that ended has its containers
// terminated.
func (r *realBackend) setPodPhase(t *testing.T, name string, phase corev1.PodPhase) {
	r.updateStatus(t, name, func(p *corev1.Pod) {
		p.Status.Phase = phase
		if phase != corev1.PodSucceeded && phase != corev1.PodFailed {
			return
		}
		setReadyStatus(p, false)
		for i := range p.Status.ContainerStatuses {
			cs := &p.Status.ContainerStatuses[i]
			exit := int32(0)
			if phase == corev1.PodFailed {
				exit = 1
			}
			cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: exit, StartedAt: p.CreationTimestamp, FinishedAt: metav1.Now()}}
		}
	})
}

// unmanagedNode is a node name kwok does not manage: pods bound to it never start.
const unmanagedNode = "node-that-never-starts-pods"

func (r *realBackend) addWorkload(t *testing.T, kind kube.Workload, name string, replicas int32, labels map[string]string) {
	t.Helper()
	ctx := context.Background()
	spec := realkube.PodSpec(map[string]string{"main": "docker.io/library/busybox@sha256:0123"})
	if r.opts.stuckWorkloads {
		spec.NodeName = unmanagedNode
	}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec}
	sel := &metav1.LabelSelector{MatchLabels: labels}
	var err error
	if kind == kube.StatefulSet {
		_, err = r.c.Admin.AppsV1().StatefulSets(r.ns).Create(ctx, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: appsv1.StatefulSetSpec{Replicas: &replicas, Selector: sel, Template: tmpl, ServiceName: name}}, metav1.CreateOptions{})
	} else {
		_, err = r.c.Admin.AppsV1().Deployments(r.ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: sel, Template: tmpl}}, metav1.CreateOptions{})
	}
	require.NoError(t, err)
	// The controllers create the pods and report them; a stuck workload gets its first pod only.
	want := replicas
	if r.opts.stuckWorkloads && kind == kube.StatefulSet && want > 1 {
		want = 1
	}
	c := r.connect(t)
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		_, status, err := c.Replicas(ctx, kind, name)
		return err == nil && status == want, nil
	}), "%s %s to report %d replicas", kind, name, want)
}

func (r *realBackend) specReplicas(t *testing.T, kind kube.Workload, name string) int32 {
	t.Helper()
	ctx := context.Background()
	if kind == kube.StatefulSet {
		s, err := r.c.Admin.AppsV1().StatefulSets(r.ns).Get(ctx, name, metav1.GetOptions{})
		require.NoError(t, err)
		return *s.Spec.Replicas
	}
	d, err := r.c.Admin.AppsV1().Deployments(r.ns).Get(ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	return *d.Spec.Replicas
}

func (r *realBackend) watchStatus(t *testing.T, kind kube.Workload, name string) func() []int32 {
	return watchReplicas(t, r.c.Admin, r.ns, kind, name)
}

// deny takes the permission out of the bot's Role.
func (r *realBackend) deny(t *testing.T, a kube.Access) {
	t.Helper()
	_, err := r.c.RevokeFromRole(context.Background(), r.ns, "cutoverbot", "cutoverbot", realkube.Permission(a))
	require.NoError(t, err)
}

func (r *realBackend) setExec(fn execFn) {
	r.c.SetNamespaceExec(r.ns, func(ctx context.Context, req realkube.ExecRequest) (int, error) {
		return fn(ctx, req.Command, req.Stdin, req.Stdout, req.Stderr)
	})
}

func (r *realBackend) execCount() int {
	n := 0
	for _, e := range r.c.Execs() {
		if e.Namespace == r.ns {
			n++
		}
	}
	return n
}

// watchReplicas watches one workload and collects the distinct status.replicas values.
func watchReplicas(t *testing.T, client kubernetes.Interface, namespace string, kind kube.Workload, name string) func() []int32 {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	opts := metav1.ListOptions{FieldSelector: "metadata.name=" + name}
	var (
		w   watch.Interface
		err error
	)
	if kind == kube.StatefulSet {
		w, err = client.AppsV1().StatefulSets(namespace).Watch(ctx, opts)
	} else {
		w, err = client.AppsV1().Deployments(namespace).Watch(ctx, opts)
	}
	require.NoError(t, err)
	var mu sync.Mutex
	var seen []int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			var n int32
			switch o := ev.Object.(type) {
			case *appsv1.StatefulSet:
				n = o.Status.Replicas
			case *appsv1.Deployment:
				n = o.Status.Replicas
			default:
				continue
			}
			mu.Lock()
			if len(seen) == 0 || seen[len(seen)-1] != n {
				seen = append(seen, n)
			}
			mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); w.Stop(); <-done })
	return func() []int32 {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
}
