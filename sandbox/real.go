package sandbox

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nycmeshnet/cutoverbot/deploy"
	"github.com/nycmeshnet/cutoverbot/ops/pg/pgserver"
	"github.com/nycmeshnet/cutoverbot/sandbox/realkube"
)

// PostgresImage is the image of the simulated postgres pods (pinned by digest, as the node
// reports it back as the image ID).
const PostgresImage = "docker.io/library/postgres@sha256:9f4ac1b1e2c0a8d8e5b2f1c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6b"

// BotServiceAccount is the bot's identity in each MeshDB cluster (deploy/target-cluster/rbac.yaml).
const BotServiceAccount = "cutoverbot"

// helmLabels are what MeshDB's Helm chart puts on its workloads besides the selector labels.
var helmLabels = with(with(sharedLabels, "app.kubernetes.io/managed-by", "Helm"), "helm.sh/chart", "meshdb-0.1.0")

// NewRealCluster starts a cluster whose Kubernetes is a real control plane (realkube) with
// MeshDB's workloads as its Helm chart makes them: the meshweb and postgres Deployments and
// the celery StatefulSet, all sharing one selector, their pods told apart by the app label.
// Their pods run commands against the cluster's own PostgreSQL. The bot's ServiceAccount,
// Role and RoleBinding are deploy/target-cluster/rbac.yaml, applied as shipped, and BotToken
// is a token the API server issued for that ServiceAccount.
func NewRealCluster(ctx context.Context, name, dir string, bins realkube.Bins, opts Options) (*Cluster, error) {
	c := &Cluster{Name: name, dir: dir}
	var err error
	fail := func(err error) (*Cluster, error) {
		c.Close()
		return nil, fmt.Errorf("cluster %s: %w", name, err)
	}
	if c.PG, err = pgserver.Start(ctx, filepath.Join(dir, "pg")); err != nil {
		return fail(err)
	}
	if err := c.PG.CreateMeshDB(ctx, DBName, DBUser); err != nil {
		return fail(err)
	}
	if opts.Installs > 0 {
		if err := c.PG.Seed(ctx, DBName, DBUser, opts.Installs); err != nil {
			return fail(fmt.Errorf("seed: %w", err))
		}
	}
	if c.Real, err = realkube.Start(ctx, bins, realkube.Options{Dir: filepath.Join(dir, "kube"), Exec: c.realExec}); err != nil {
		return fail(err)
	}
	if err := c.Real.EnsureNamespace(ctx, Namespace, nil); err != nil {
		return fail(err)
	}
	if err := c.applyBotRBAC(ctx); err != nil {
		return fail(err)
	}
	if err := c.createWorkloads(ctx); err != nil {
		return fail(err)
	}
	if c.BotToken, err = c.Real.ServiceAccountToken(ctx, Namespace, BotServiceAccount, 2*time.Hour); err != nil {
		return fail(err)
	}
	return c, nil
}

func (c *Cluster) realExec(ctx context.Context, req realkube.ExecRequest) (int, error) {
	return c.run(ctx, req.Container, req.Command, req.Stdin, req.Stdout, req.Stderr)
}

func (c *Cluster) applyBotRBAC(ctx context.Context) error {
	objs, err := realkube.SplitYAML(deploy.TargetClusterRBAC)
	if err != nil {
		return fmt.Errorf("deploy/target-cluster/rbac.yaml: %w", err)
	}
	if _, err := c.Real.Apply(ctx, objs, realkube.ApplyOptions{}); err != nil {
		return fmt.Errorf("deploy/target-cluster/rbac.yaml: %w", err)
	}
	return nil
}

func (c *Cluster) createWorkloads(ctx context.Context) error {
	apps := c.Real.Admin.AppsV1().Deployments(Namespace)
	for _, d := range []struct {
		name     string
		replicas int32
		labels   map[string]string
		pod      map[string]string
	}{
		{MeshwebDeployment, 2, meshwebLabels, map[string]string{MeshwebContainer: MeshwebImage}},
		{PostgresDeploy, 1, postgresLabels, map[string]string{PostgresContainer: PostgresImage}},
	} {
		replicas := d.replicas
		dep := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: d.name, Labels: helmLabels},
			Spec: appsv1.DeploymentSpec{
				Replicas: &replicas,
				Selector: &metav1.LabelSelector{MatchLabels: sharedLabels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: d.labels}, Spec: realkube.PodSpec(d.pod)},
			},
		}
		if _, err := apps.Create(ctx, dep, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create deployment %s: %w", d.name, err)
		}
	}
	replicas := int32(1)
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: CeleryStatefulSet, Labels: helmLabels},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    &replicas,
			ServiceName: CeleryStatefulSet,
			Selector:    &metav1.LabelSelector{MatchLabels: sharedLabels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: celeryLabels},
				Spec: realkube.PodSpec(map[string]string{"celery-worker": MeshwebImage, "celery-beat": MeshwebImage})},
		},
	}
	if _, err := c.Real.Admin.AppsV1().StatefulSets(Namespace).Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create statefulset %s: %w", CeleryStatefulSet, err)
	}
	for sel, n := range map[string]int{"app=meshdb-meshweb-app": 2, "app=meshdb-postgres-app": 1, "app=meshdb-celery-worker-app": 1} {
		if err := c.Real.WaitPods(ctx, Namespace, sel, n, 2*time.Minute); err != nil {
			return err
		}
	}
	return nil
}

// setRealPodsReady sets the Ready condition of the pods the selector matches, as a kubelet
// whose readiness probe fails (or passes again) would.
func (c *Cluster) setRealPodsReady(ctx context.Context, selector string, ready bool) error {
	pods := c.Real.Admin.CoreV1().Pods(Namespace)
	list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return err
	}
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	for i := range list.Items {
		p := &list.Items[i]
		for j := range p.Status.Conditions {
			if t := p.Status.Conditions[j].Type; t == corev1.PodReady || t == corev1.ContainersReady {
				p.Status.Conditions[j].Status = status
				p.Status.Conditions[j].LastTransitionTime = metav1.Now()
			}
		}
		for j := range p.Status.ContainerStatuses {
			p.Status.ContainerStatuses[j].Ready = ready
		}
		if _, err := pods.UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("set pod %s ready=%v: %w", p.Name, ready, err)
		}
	}
	return nil
}
