package kubefake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

// Workload kinds accepted by SpecReplicas.
const (
	KindStatefulSet = "statefulset"
	KindDeployment  = "deployment"
)

// AddStatefulSet stores a StatefulSet whose status already matches its spec.
func (s *Server) AddStatefulSet(ns, name string, replicas int32, podLabels map[string]string) {
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: podLabels},
		Spec: appsv1.StatefulSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: podLabels},
			Template: podTemplate(podLabels),
		},
		Status: appsv1.StatefulSetStatus{ObservedGeneration: 1, Replicas: replicas, ReadyReplicas: replicas,
			CurrentReplicas: replicas, UpdatedReplicas: replicas, AvailableReplicas: replicas},
	}
	s.mustCreate("statefulsets", sts)
}

// AddDeployment stores a Deployment whose status already matches its spec.
func (s *Server) AddDeployment(ns, name string, replicas int32, podLabels map[string]string) {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: podLabels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: podLabels},
			Template: podTemplate(podLabels),
		},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: replicas, ReadyReplicas: replicas,
			UpdatedReplicas: replicas, AvailableReplicas: replicas},
	}
	s.mustCreate("deployments", d)
}

// SpecReplicas returns spec.replicas of a workload (kind "statefulset" or "deployment"), or
// -1 if there is no such workload.
func (s *Server) SpecReplicas(kind, ns, name string) int32 {
	spec, _ := s.replicas(kind, ns, name)
	return spec
}

// StatusReplicas returns status.replicas of a workload, or -1 if there is no such workload.
func (s *Server) StatusReplicas(kind, ns, name string) int32 {
	_, status := s.replicas(kind, ns, name)
	return status
}

func (s *Server) replicas(kind, ns, name string) (spec, status int32) {
	res, ok := workloadResource(kind)
	if !ok {
		return -1, -1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	obj, err := s.getLocked(res, ns, name)
	if err != nil {
		return -1, -1
	}
	return replicasOf(obj)
}

// mustCreate stores an object built by a test helper; replacing one of the same name is
// allowed so a test can reset state.
func (s *Server) mustCreate(plural string, obj runtime.Object) {
	res := resourceByPlural(plural)
	s.mu.Lock()
	defer s.mu.Unlock()
	o := obj.(metav1.Object)
	if old, err := s.getLocked(res, o.GetNamespace(), o.GetName()); err == nil {
		prev := old.(metav1.Object)
		o.SetUID(prev.GetUID())
		o.SetCreationTimestamp(prev.GetCreationTimestamp())
		o.SetGeneration(prev.GetGeneration() + 1)
		s.putLocked(res, obj, false)
		return
	}
	if err := s.createLocked(res, obj); err != nil {
		panic(fmt.Sprintf("kubefake: create %s %s: %v", plural, o.GetName(), err))
	}
}

func workloadResource(kind string) (resource, bool) {
	switch strings.ToLower(kind) {
	case KindStatefulSet, "statefulsets":
		return resourceByPlural("statefulsets"), true
	case KindDeployment, "deployments":
		return resourceByPlural("deployments"), true
	}
	return resource{}, false
}

func podTemplate(podLabels map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: podLabels}}
}

// replicasOf returns spec.replicas (1 when unset, as the API defaults it) and status.replicas.
func replicasOf(obj runtime.Object) (spec, status int32) {
	spec = 1
	switch o := obj.(type) {
	case *appsv1.StatefulSet:
		if o.Spec.Replicas != nil {
			spec = *o.Spec.Replicas
		}
		return spec, o.Status.Replicas
	case *appsv1.Deployment:
		if o.Spec.Replicas != nil {
			spec = *o.Spec.Replicas
		}
		return spec, o.Status.Replicas
	}
	return 0, 0
}

func setSpecReplicas(obj runtime.Object, n int32) {
	switch o := obj.(type) {
	case *appsv1.StatefulSet:
		o.Spec.Replicas = &n
	case *appsv1.Deployment:
		o.Spec.Replicas = &n
	}
}

// settleStatus makes the status report the spec as fully rolled out.
func settleStatus(obj runtime.Object) {
	spec, _ := replicasOf(obj)
	switch o := obj.(type) {
	case *appsv1.StatefulSet:
		o.Status = appsv1.StatefulSetStatus{ObservedGeneration: o.Generation, Replicas: spec, ReadyReplicas: spec,
			CurrentReplicas: spec, UpdatedReplicas: spec, AvailableReplicas: spec}
	case *appsv1.Deployment:
		o.Status = appsv1.DeploymentStatus{ObservedGeneration: o.Generation, Replicas: spec, ReadyReplicas: spec,
			UpdatedReplicas: spec, AvailableReplicas: spec}
	}
}

// stepStatus moves a StatefulSet's status one replica toward its spec: the StatefulSet
// controller (OrderedReady) creates or removes one pod at a time and waits for it.
func stepStatus(o *appsv1.StatefulSet) {
	spec, status := replicasOf(o)
	switch {
	case status < spec:
		status++
	case status > spec:
		status--
	}
	o.Status = appsv1.StatefulSetStatus{ObservedGeneration: o.Generation, Replicas: status, ReadyReplicas: status,
		CurrentReplicas: status, UpdatedReplicas: status, AvailableReplicas: status}
}

// followReplicasLocked schedules the status of a workload to catch up with its spec after
// the scale delay, the way a controller would.
func (s *Server) followReplicasLocked(res resource, ns, name string) {
	obj, err := s.getLocked(res, ns, name)
	if err != nil {
		return
	}
	if spec, status := replicasOf(obj); spec == status {
		return
	}
	catchUp := func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		cur, err := s.getLocked(res, ns, name)
		if err != nil {
			return
		}
		if spec, status := replicasOf(cur); spec == status {
			return
		}
		next := cur.DeepCopyObject()
		if sts, ok := next.(*appsv1.StatefulSet); ok {
			stepStatus(sts) // putLocked schedules the next step
		} else {
			settleStatus(next)
		}
		s.putLocked(res, next, false)
	}
	s.timers = append(s.timers, time.AfterFunc(s.scaleDelay, catchUp))
}

func (s *Server) workloadRoutes(mux *http.ServeMux) {
	for _, plural := range []string{"statefulsets", "deployments"} {
		res := resourceByPlural(plural)
		path := res.prefix() + "/namespaces/{ns}/" + plural + "/{name}/scale"
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) { s.handleScale(w, r, res) })
		mux.HandleFunc("PUT "+path, func(w http.ResponseWriter, r *http.Request) { s.handleScale(w, r, res) })
		mux.HandleFunc("PATCH "+path, func(w http.ResponseWriter, r *http.Request) { s.handleScale(w, r, res) })
	}
}

// handleScale serves the autoscaling/v1 Scale subresource: GET reads it, PUT replaces it and
// PATCH patches it (JSON patch, merge patch or strategic merge patch). Only spec.replicas is
// writable; a stale resourceVersion gets 409 Conflict.
func (s *Server) handleScale(w http.ResponseWriter, r *http.Request, res resource) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	var body []byte
	if r.Method != http.MethodGet {
		b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			writeStatusError(w, apierrors.NewBadRequest(fmt.Sprintf("read body: %v", err)))
			return
		}
		body = b
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	obj, err := s.getLocked(res, ns, name)
	if err != nil {
		writeStatusError(w, err)
		return
	}
	cur := scaleOf(obj)
	if r.Method == http.MethodGet {
		writeJSON(w, http.StatusOK, cur)
		return
	}
	want, err := requestedScale(r, cur, body)
	if err != nil {
		writeStatusError(w, err)
		return
	}
	if rv := want.ResourceVersion; rv != "" && rv != cur.ResourceVersion {
		writeStatusError(w, apierrors.NewConflict(schemaResource(res.gvk.Group, res.plural+"/scale"), name,
			fmt.Errorf("the object has been modified; please apply your changes to the latest version and try again")))
		return
	}
	if want.Spec.Replicas < 0 {
		writeStatusError(w, apierrors.NewBadRequest(fmt.Sprintf("spec.replicas must be >= 0, got %d", want.Spec.Replicas)))
		return
	}
	if spec, _ := replicasOf(obj); spec != want.Spec.Replicas {
		next := obj.DeepCopyObject()
		setSpecReplicas(next, want.Spec.Replicas)
		nm := next.(metav1.Object)
		nm.SetGeneration(nm.GetGeneration() + 1)
		s.putLocked(res, next, false)
		if s.scaleDelay == 0 {
			settleStatus(next)
			s.putLocked(res, next, false)
		}
		obj = next
	}
	writeJSON(w, http.StatusOK, scaleOf(obj))
}

// requestedScale decodes a PUT body or applies a PATCH body to the current Scale.
func requestedScale(r *http.Request, cur *autoscalingv1.Scale, body []byte) (*autoscalingv1.Scale, error) {
	doc := body
	if r.Method == http.MethodPatch {
		orig, err := json.Marshal(cur)
		if err != nil {
			return nil, err
		}
		ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
		switch strings.TrimSpace(ct) {
		case "application/json-patch+json":
			p, perr := jsonpatch.DecodePatch(body)
			if perr != nil {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("json patch: %v", perr))
			}
			doc, err = p.Apply(orig)
		case "application/merge-patch+json":
			doc, err = jsonpatch.MergePatch(orig, body)
		case "application/strategic-merge-patch+json":
			doc, err = strategicpatch.StrategicMergePatch(orig, body, autoscalingv1.Scale{})
		default:
			return nil, &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: http.StatusUnsupportedMediaType,
				Reason: metav1.StatusReasonUnsupportedMediaType, Message: fmt.Sprintf("the body of the request was in an unknown format: %s", ct)}}
		}
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("apply patch: %v", err))
		}
	}
	var want autoscalingv1.Scale
	want.SetGroupVersionKind(autoscalingv1.SchemeGroupVersion.WithKind("Scale"))
	if err := decodeObject(doc, &want); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("decode Scale: %v", err))
	}
	return &want, nil
}

func scaleOf(obj runtime.Object) *autoscalingv1.Scale {
	o := obj.(metav1.Object)
	spec, status := replicasOf(obj)
	var sel *metav1.LabelSelector
	switch w := obj.(type) {
	case *appsv1.StatefulSet:
		sel = w.Spec.Selector
	case *appsv1.Deployment:
		sel = w.Spec.Selector
	}
	selector := ""
	if s, err := metav1.LabelSelectorAsSelector(sel); err == nil && sel != nil {
		selector = s.String()
	}
	return &autoscalingv1.Scale{
		TypeMeta: metav1.TypeMeta{Kind: "Scale", APIVersion: "autoscaling/v1"},
		ObjectMeta: metav1.ObjectMeta{Name: o.GetName(), Namespace: o.GetNamespace(), UID: o.GetUID(),
			ResourceVersion: o.GetResourceVersion(), CreationTimestamp: o.GetCreationTimestamp()},
		Spec:   autoscalingv1.ScaleSpec{Replicas: spec},
		Status: autoscalingv1.ScaleStatus{Replicas: status, Selector: selector},
	}
}

// SetScaleDelay changes how long status.replicas lags behind spec.replicas (a pod that
// takes its time to terminate, as celery's do), from now on and for the scalings still
// under way.
func (s *Server) SetScaleDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scaleDelay = d
	for _, plural := range []string{"statefulsets", "deployments"} {
		res := resourceByPlural(plural)
		for key := range s.objects[plural] {
			ns, name, _ := strings.Cut(key, "/")
			s.followReplicasLocked(res, ns, name)
		}
	}
}
