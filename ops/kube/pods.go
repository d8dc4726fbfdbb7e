package kube

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// Pod is a running, ready pod chosen to run commands in.
type Pod struct {
	Name, Namespace string
	Containers      map[string]string // container name -> image ID (digest) the kubelet reports
	Created         time.Time
}

// ErrNoPod is what a report.NoPod failure stands for, so a caller can fall back
// (errors.Is).
var ErrNoPod = errors.New("no ready pod")

// FindPod returns the newest pod matching the label selector that is Running, Ready, not
// being deleted, and has the container.
func (c *Cluster) FindPod(ctx context.Context, selector, container string) (Pod, error) {
	pods, err := c.readyPods(ctx, selector, container)
	if err != nil {
		return Pod{}, err
	}
	return pods[0], nil
}

// ImageDigest returns the image ID of the container in the newest ready pod, e.g.
// "docker.io/nycmeshnet/meshdb@sha256:...", without a runtime prefix such as docker-pullable://.
func (c *Cluster) ImageDigest(ctx context.Context, selector, container string) (string, error) {
	p, err := c.FindPod(ctx, selector, container)
	if err != nil {
		return "", err
	}
	id := p.Containers[container]
	if i := strings.Index(id, "://"); i >= 0 {
		id = id[i+3:]
	}
	if id == "" {
		return "", report.Fail(report.NoImageID{Cluster: c.name, Namespace: c.namespace, Pod: p.Name, Container: container}, nil)
	}
	return id, nil
}

// readyPods lists the fitting pods, newest first (by creation time, then name).
func (c *Cluster) readyPods(ctx context.Context, selector, container string) ([]Pod, error) {
	ctx, cancel := c.call(ctx)
	defer cancel()
	list, err := c.client.CoreV1().Pods(c.namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, report.Fail(report.ListPods{Cluster: c.name, Namespace: c.namespace, Selector: selector}, explain(err))
	}
	var out []Pod
	for i := range list.Items {
		p := &list.Items[i]
		if !usable(p, container) {
			continue
		}
		pod := Pod{Name: p.Name, Namespace: p.Namespace, Created: p.CreationTimestamp.Time, Containers: map[string]string{}}
		for _, cs := range p.Status.ContainerStatuses {
			pod.Containers[cs.Name] = cs.ImageID
		}
		out = append(out, pod)
	}
	if len(out) == 0 {
		return nil, &report.Failed{Facts: report.NoPod{Cluster: c.name, Namespace: c.namespace, Selector: selector, Container: container, Matched: len(list.Items)}, Sentinel: ErrNoPod}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].Name > out[j].Name
	})
	return out, nil
}

// usable says whether a pod can take an exec in that container now.
func usable(p *corev1.Pod, container string) bool {
	if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
		return false
	}
	ready := false
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady {
			ready = cond.Status == corev1.ConditionTrue
		}
	}
	if !ready {
		return false
	}
	for _, ct := range p.Spec.Containers {
		if ct.Name == container {
			return true
		}
	}
	return false
}
