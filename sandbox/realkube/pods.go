package realkube

import (
	"context"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// PodSpec is a pod template's spec on this cluster's node: one container per entry of
// containers (name -> image), scheduled by name since there is no scheduler.
func PodSpec(containers map[string]string) corev1.PodSpec {
	names := make([]string, 0, len(containers))
	for n := range containers {
		names = append(names, n)
	}
	sort.Strings(names)
	spec := corev1.PodSpec{NodeName: NodeName, TerminationGracePeriodSeconds: new(int64)}
	for _, n := range names {
		spec.Containers = append(spec.Containers, corev1.Container{Name: n, Image: containers[n]})
	}
	return spec
}

// CreatePod creates a bare pod on the node; kwok makes it Running and Ready.
func (c *Cluster) CreatePod(ctx context.Context, ns, name string, labels, containers map[string]string) (*corev1.Pod, error) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}, Spec: PodSpec(containers)}
	out, err := c.Admin.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("realkube: create pod %s/%s: %w", ns, name, err)
	}
	return out, nil
}

// WaitPods waits until exactly n pods match the selector and all of them are Running and
// Ready, none being deleted.
func (c *Cluster) WaitPods(ctx context.Context, ns, selector string, n int, timeout time.Duration) error {
	last := ""
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		list, err := c.Admin.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		ready := 0
		for i := range list.Items {
			if PodReady(&list.Items[i]) {
				ready++
			}
		}
		last = fmt.Sprintf("%d pods, %d ready", len(list.Items), ready)
		return len(list.Items) == n && ready == n, nil
	})
	if err != nil {
		return fmt.Errorf("realkube: waiting for %d ready pods %s in %s (last: %s): %w", n, selector, ns, last, err)
	}
	return nil
}

// PodReady says whether a pod is Running and Ready and not being deleted.
func PodReady(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
		return false
	}
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}
