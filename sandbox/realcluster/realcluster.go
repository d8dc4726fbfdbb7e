// Package realcluster runs a simulated MeshDB cluster (sandbox.Cluster) on a real
// Kubernetes control plane (sandbox/realkube), for the tests of `make e2e-kube`: MeshDB's
// workloads as its Helm chart makes them, scaled by the real controllers, their pods'
// commands run against the cluster's own PostgreSQL, and the bot as the ServiceAccount of
// deploy/target-cluster/rbac.yaml. Only tests import it; the shipped binary links none of it.
package realcluster

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nycmeshnet/cutoverbot/deploy"
	"github.com/nycmeshnet/cutoverbot/sandbox"
	"github.com/nycmeshnet/cutoverbot/sandbox/realkube"
)

// PostgresImage is the image of the postgres pods (pinned by digest: the node reports the
// image back as the image ID).
const PostgresImage = "docker.io/library/postgres@sha256:9f4ac1b1e2c0a8d8e5b2f1c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6b"

// BotServiceAccount is the bot's identity in each MeshDB cluster (deploy/target-cluster/rbac.yaml).
const BotServiceAccount = "cutoverbot"

// BotRole is the Role that grants it.
const BotRole = "cutoverbot"

// helmLabels are what MeshDB's Helm chart puts on its workloads besides the selector labels.
func helmLabels() map[string]string {
	l := map[string]string{"app.kubernetes.io/managed-by": "Helm", "helm.sh/chart": "meshdb-0.1.0"}
	for k, v := range sandbox.SelectorLabels {
		l[k] = v
	}
	return l
}

// Start starts the cluster's PostgreSQL and control plane under dir, with MeshDB's
// workloads: the meshweb and postgres Deployments and the celery StatefulSet, all sharing one
// selector. The cluster's API is reached with a token the API server issued to the bot's
// ServiceAccount, whose Role is deploy/target-cluster/rbac.yaml applied as shipped.
func Start(ctx context.Context, name, dir string, bins realkube.Bins, opts sandbox.Options) (*sandbox.Cluster, *realkube.Cluster, error) {
	var kube *realkube.Cluster
	c, err := sandbox.NewClusterOn(ctx, name, dir, opts, func(ctx context.Context, run sandbox.PodRunner) (*sandbox.API, error) {
		var err error
		kube, err = realkube.Start(ctx, bins, realkube.Options{Dir: filepath.Join(dir, "kube"),
			Exec: func(ctx context.Context, req realkube.ExecRequest) (int, error) {
				return run(ctx, sandbox.PodCommand{Container: req.Container, Argv: req.Command, Stdin: req.Stdin,
					Stdout: req.Stdout, Stderr: req.Stderr, Disconnected: req.Disconnected})
			}})
		if err != nil {
			return nil, err
		}
		token, err := setUp(ctx, kube)
		if err != nil {
			kube.Close()
			return nil, err
		}
		return &sandbox.API{URL: kube.URL(), CAPEM: kube.CAPEM(), Token: token, Close: kube.Close,
			SetPodsReady: func(ctx context.Context, selector string, ready bool) error {
				return setPodsReady(ctx, kube, selector, ready)
			}}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	return c, kube, nil
}

// setUp creates the namespace, the bot's RBAC and MeshDB's workloads, waits for their pods,
// and returns the bot's token.
func setUp(ctx context.Context, kube *realkube.Cluster) (string, error) {
	if err := kube.EnsureNamespace(ctx, sandbox.Namespace, nil); err != nil {
		return "", err
	}
	objs, err := realkube.SplitYAML(deploy.TargetClusterRBAC)
	if err != nil {
		return "", fmt.Errorf("deploy/target-cluster/rbac.yaml: %w", err)
	}
	if _, err := kube.Apply(ctx, objs, realkube.ApplyOptions{}); err != nil {
		return "", fmt.Errorf("deploy/target-cluster/rbac.yaml: %w", err)
	}
	if err := createWorkloads(ctx, kube); err != nil {
		return "", err
	}
	return kube.ServiceAccountToken(ctx, sandbox.Namespace, BotServiceAccount, 2*time.Hour)
}

func createWorkloads(ctx context.Context, kube *realkube.Cluster) error {
	deployments := kube.Admin.AppsV1().Deployments(sandbox.Namespace)
	for _, d := range []struct {
		name     string
		replicas int32
		labels   map[string]string
		pod      map[string]string
	}{
		{sandbox.MeshwebDeployment, 2, sandbox.MeshwebLabels, map[string]string{sandbox.MeshwebContainer: sandbox.MeshwebImage}},
		{sandbox.PostgresDeploy, 1, sandbox.PostgresLabels, map[string]string{sandbox.PostgresContainer: PostgresImage}},
	} {
		replicas := d.replicas
		dep := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: d.name, Labels: helmLabels()},
			Spec: appsv1.DeploymentSpec{
				Replicas: &replicas,
				Selector: &metav1.LabelSelector{MatchLabels: sandbox.SelectorLabels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: d.labels}, Spec: realkube.PodSpec(d.pod)},
			},
		}
		if _, err := deployments.Create(ctx, dep, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create deployment %s: %w", d.name, err)
		}
	}
	replicas := int32(1)
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: sandbox.CeleryStatefulSet, Labels: helmLabels()},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    &replicas,
			ServiceName: sandbox.CeleryStatefulSet,
			Selector:    &metav1.LabelSelector{MatchLabels: sandbox.SelectorLabels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sandbox.CeleryLabels},
				Spec: realkube.PodSpec(map[string]string{"celery-worker": sandbox.MeshwebImage, "celery-beat": sandbox.MeshwebImage})},
		},
	}
	if _, err := kube.Admin.AppsV1().StatefulSets(sandbox.Namespace).Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create statefulset %s: %w", sandbox.CeleryStatefulSet, err)
	}
	for sel, n := range map[string]int{"app=meshdb-meshweb-app": 2, "app=meshdb-postgres-app": 1, "app=meshdb-celery-worker-app": 1} {
		if err := kube.WaitPods(ctx, sandbox.Namespace, sel, n, 2*time.Minute); err != nil {
			return err
		}
	}
	return nil
}

// setPodsReady sets the Ready condition of the pods the selector matches, as a kubelet
// whose readiness probe fails (or passes again) reports it.
func setPodsReady(ctx context.Context, kube *realkube.Cluster, selector string, ready bool) error {
	pods := kube.Admin.CoreV1().Pods(sandbox.Namespace)
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
