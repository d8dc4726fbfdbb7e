package kubefake

import (
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AddPod stores a Running pod. containers maps container name to the image ID the kubelet
// reports (e.g. "docker.io/x/meshdb@sha256:..."); ready sets the Ready condition and every
// container's ready flag; created is the creationTimestamp (zero means now).
func (s *Server) AddPod(ns, name string, labels map[string]string, containers map[string]string, ready bool, created time.Time) {
	if created.IsZero() {
		created = time.Now()
	}
	names := make([]string, 0, len(containers))
	for c := range containers {
		names = append(names, c)
	}
	sort.Strings(names)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels, CreationTimestamp: metav1.NewTime(created)},
		Status: corev1.PodStatus{
			Phase:     corev1.PodRunning,
			PodIP:     "10.0.0.1",
			StartTime: &metav1.Time{Time: created},
		},
	}
	for _, c := range names {
		imageID := containers[c]
		image, _, _ := strings.Cut(imageID, "@")
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: c, Image: image})
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, corev1.ContainerStatus{
			Name:    c,
			Image:   image,
			ImageID: imageID,
			Started: &[]bool{true}[0],
			State:   corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(created)}},
		})
	}
	setReady(pod, ready)
	s.mustCreate("pods", pod)
}

// SetPodReady flips a pod's Ready condition and its containers' ready flags.
func (s *Server) SetPodReady(ns, name string, ready bool) {
	s.updatePod(ns, name, func(p *corev1.Pod) { setReady(p, ready) })
}

// SetPodPhase sets a pod's phase (Pending, Running, Succeeded, Failed). A pod that ended
// (Succeeded, Failed) has its containers terminated and not ready, as a kubelet reports it.
func (s *Server) SetPodPhase(ns, name string, phase corev1.PodPhase) {
	s.updatePod(ns, name, func(p *corev1.Pod) {
		p.Status.Phase = phase
		if phase != corev1.PodSucceeded && phase != corev1.PodFailed {
			return
		}
		setReady(p, false)
		code := int32(0)
		if phase == corev1.PodFailed {
			code = 1
		}
		for i := range p.Status.ContainerStatuses {
			p.Status.ContainerStatuses[i].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: code, StartedAt: p.CreationTimestamp, FinishedAt: metav1.Now()}}
		}
	})
}

// DeletePod removes a pod; it does nothing if there is no such pod.
func (s *Server) DeletePod(ns, name string) {
	res := resourceByPlural("pods")
	s.mu.Lock()
	defer s.mu.Unlock()
	obj, err := s.getLocked(res, ns, name)
	if err != nil {
		return
	}
	delete(s.objects[res.plural], objectKey(ns, name))
	s.notifyLocked(res, "DELETED", obj)
}

func (s *Server) updatePod(ns, name string, change func(*corev1.Pod)) {
	res := resourceByPlural("pods")
	s.mu.Lock()
	defer s.mu.Unlock()
	obj, err := s.getLocked(res, ns, name)
	if err != nil {
		return
	}
	p := obj.DeepCopyObject().(*corev1.Pod)
	change(p)
	s.putLocked(res, p, false)
}

func setReady(p *corev1.Pod, ready bool) {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	now := metav1.Now()
	p.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: p.CreationTimestamp},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: p.CreationTimestamp},
		{Type: corev1.ContainersReady, Status: status, LastTransitionTime: now},
		{Type: corev1.PodReady, Status: status, LastTransitionTime: now},
	}
	for i := range p.Status.ContainerStatuses {
		p.Status.ContainerStatuses[i].Ready = ready
	}
}

// podContainers returns the container names of a stored pod.
func podContainers(p *corev1.Pod) []string {
	out := make([]string, 0, len(p.Spec.Containers))
	for _, c := range p.Spec.Containers {
		out = append(out, c.Name)
	}
	return out
}
