package kubefake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes/scheme"
)

// resource describes one namespaced resource the server stores and serves with the plain
// verbs (get, list, watch, create, update, delete).
type resource struct {
	gvk     schema.GroupVersionKind
	plural  string
	newObj  func() runtime.Object
	newList func() runtime.Object
	// subresources are listed in discovery; their handlers are registered elsewhere.
	subresources []string
}

var resources = []resource{
	{
		gvk: corev1.SchemeGroupVersion.WithKind("Pod"), plural: "pods",
		newObj: func() runtime.Object { return &corev1.Pod{} }, newList: func() runtime.Object { return &corev1.PodList{} },
		subresources: []string{"exec"},
	},
	{
		gvk: corev1.SchemeGroupVersion.WithKind("ConfigMap"), plural: "configmaps",
		newObj: func() runtime.Object { return &corev1.ConfigMap{} }, newList: func() runtime.Object { return &corev1.ConfigMapList{} },
	},
	{
		gvk: appsv1.SchemeGroupVersion.WithKind("StatefulSet"), plural: "statefulsets",
		newObj: func() runtime.Object { return &appsv1.StatefulSet{} }, newList: func() runtime.Object { return &appsv1.StatefulSetList{} },
		subresources: []string{"scale"},
	},
	{
		gvk: appsv1.SchemeGroupVersion.WithKind("Deployment"), plural: "deployments",
		newObj: func() runtime.Object { return &appsv1.Deployment{} }, newList: func() runtime.Object { return &appsv1.DeploymentList{} },
		subresources: []string{"scale"},
	},
	{
		gvk: coordinationv1.SchemeGroupVersion.WithKind("Lease"), plural: "leases",
		newObj: func() runtime.Object { return &coordinationv1.Lease{} }, newList: func() runtime.Object { return &coordinationv1.LeaseList{} },
	},
}

func resourceByPlural(plural string) resource {
	for _, r := range resources {
		if r.plural == plural {
			return r
		}
	}
	panic("kubefake: unknown resource " + plural)
}

// prefix is the URL path of the resource's group version, /api/v1 or /apis/group/version.
func (r resource) prefix() string {
	if r.gvk.Group == "" {
		return "/api/" + r.gvk.Version
	}
	return "/apis/" + r.gvk.Group + "/" + r.gvk.Version
}

func (r resource) groupResource() schema.GroupResource {
	return schema.GroupResource{Group: r.gvk.Group, Resource: r.plural}
}

func schemaResource(group, res string) schema.GroupResource {
	return schema.GroupResource{Group: group, Resource: res}
}

func objectKey(ns, name string) string { return ns + "/" + name }

func (s *Server) resourceRoutes(mux *http.ServeMux, res resource) {
	coll := res.prefix() + "/namespaces/{ns}/" + res.plural
	item := coll + "/{name}"
	mux.HandleFunc("GET "+res.prefix()+"/"+res.plural, func(w http.ResponseWriter, r *http.Request) { s.handleList(w, r, res, "") })
	mux.HandleFunc("GET "+coll, func(w http.ResponseWriter, r *http.Request) { s.handleList(w, r, res, r.PathValue("ns")) })
	mux.HandleFunc("POST "+coll, func(w http.ResponseWriter, r *http.Request) { s.handleCreate(w, r, res) })
	mux.HandleFunc("GET "+item, func(w http.ResponseWriter, r *http.Request) { s.handleGet(w, r, res) })
	mux.HandleFunc("PUT "+item, func(w http.ResponseWriter, r *http.Request) { s.handleUpdate(w, r, res) })
	mux.HandleFunc("PATCH "+item, func(w http.ResponseWriter, r *http.Request) { s.handlePatch(w, r, res) })
	mux.HandleFunc("DELETE "+item, func(w http.ResponseWriter, r *http.Request) { s.handleDelete(w, r, res) })
}

// getLocked returns the stored object (not a copy) or a NotFound error.
func (s *Server) getLocked(res resource, ns, name string) (runtime.Object, error) {
	obj, ok := s.objects[res.plural][objectKey(ns, name)]
	if !ok {
		return nil, apierrors.NewNotFound(res.groupResource(), name)
	}
	return obj, nil
}

// putLocked stores obj with a new resourceVersion and tells watchers. created says whether
// the object is new (ADDED) or replaces one (MODIFIED).
func (s *Server) putLocked(res resource, obj runtime.Object, created bool) {
	m := meta.NewAccessor()
	_ = m.SetResourceVersion(obj, s.nextRVLocked())
	obj.GetObjectKind().SetGroupVersionKind(res.gvk)
	ns, _ := m.Namespace(obj)
	name, _ := m.Name(obj)
	if s.objects[res.plural] == nil {
		s.objects[res.plural] = map[string]runtime.Object{}
	}
	s.objects[res.plural][objectKey(ns, name)] = obj
	typ := "MODIFIED"
	if created {
		typ = "ADDED"
	}
	s.notifyLocked(res, typ, obj)
	if res.plural == "statefulsets" || res.plural == "deployments" {
		s.followReplicasLocked(res, ns, name)
	}
}

// createLocked fills in server-owned metadata of a new object and stores it.
func (s *Server) createLocked(res resource, obj runtime.Object) error {
	o, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	if o.GetName() == "" {
		return apierrors.NewBadRequest("metadata.name is required")
	}
	if _, ok := s.objects[res.plural][objectKey(o.GetNamespace(), o.GetName())]; ok {
		return apierrors.NewAlreadyExists(res.groupResource(), o.GetName())
	}
	o.SetUID(uuid.NewUUID())
	if ts := o.GetCreationTimestamp(); ts.IsZero() {
		o.SetCreationTimestamp(metav1.Now())
	}
	o.SetGeneration(1)
	s.putLocked(res, obj, true)
	return nil
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request, res resource) {
	s.mu.Lock()
	obj, err := s.getLocked(res, r.PathValue("ns"), r.PathValue("name"))
	if err == nil {
		obj = obj.DeepCopyObject()
	}
	s.mu.Unlock()
	if err != nil {
		writeStatusError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, obj)
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request, res resource, ns string) {
	q := r.URL.Query()
	sel, err := labels.Parse(q.Get("labelSelector"))
	if err != nil {
		writeStatusError(w, apierrors.NewBadRequest(fmt.Sprintf("labelSelector: %v", err)))
		return
	}
	if isTrue(q.Get("watch")) {
		s.serveWatch(w, r, res, ns, sel)
		return
	}
	s.mu.Lock()
	items := s.matchingLocked(res, ns, sel)
	rv := fmt.Sprint(s.rv)
	s.mu.Unlock()
	list := res.newList()
	if err := meta.SetList(list, items); err != nil {
		writeStatusError(w, err)
		return
	}
	list.GetObjectKind().SetGroupVersionKind(res.gvk.GroupVersion().WithKind(res.gvk.Kind + "List"))
	if la, err := meta.ListAccessor(list); err == nil {
		la.SetResourceVersion(rv)
	}
	writeJSON(w, http.StatusOK, list)
}

// matchingLocked returns copies of the objects in ns (all namespaces if empty) whose labels
// match sel, sorted by namespace and name so lists are stable.
func (s *Server) matchingLocked(res resource, ns string, sel labels.Selector) []runtime.Object {
	keys := make([]string, 0, len(s.objects[res.plural]))
	for k := range s.objects[res.plural] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []runtime.Object
	for _, k := range keys {
		if ns != "" && !strings.HasPrefix(k, ns+"/") {
			continue
		}
		obj := s.objects[res.plural][k]
		o, err := meta.Accessor(obj)
		if err != nil || !sel.Matches(labels.Set(o.GetLabels())) {
			continue
		}
		out = append(out, obj.DeepCopyObject())
	}
	return out
}

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request, res resource) {
	obj := res.newObj()
	obj.GetObjectKind().SetGroupVersionKind(res.gvk)
	if err := decodeBody(r, obj); err != nil {
		writeStatusError(w, apierrors.NewBadRequest(fmt.Sprintf("decode %s: %v", res.gvk.Kind, err)))
		return
	}
	if err := validate(obj); err != nil {
		writeStatusError(w, err)
		return
	}
	o, _ := meta.Accessor(obj)
	if o.GetNamespace() != "" && o.GetNamespace() != r.PathValue("ns") {
		writeStatusError(w, apierrors.NewBadRequest("the namespace of the object does not match the namespace in the URL"))
		return
	}
	o.SetNamespace(r.PathValue("ns"))
	o.SetResourceVersion("")
	s.mu.Lock()
	err := s.createLocked(res, obj)
	obj = obj.DeepCopyObject()
	s.mu.Unlock()
	if err != nil {
		writeStatusError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, obj)
}

// handleUpdate replaces an object. A resourceVersion in the body must be the current one
// (optimistic concurrency, 409 Conflict otherwise); an empty one updates unconditionally.
func (s *Server) handleUpdate(w http.ResponseWriter, r *http.Request, res resource) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	obj := res.newObj()
	obj.GetObjectKind().SetGroupVersionKind(res.gvk)
	if err := decodeBody(r, obj); err != nil {
		writeStatusError(w, apierrors.NewBadRequest(fmt.Sprintf("decode %s: %v", res.gvk.Kind, err)))
		return
	}
	o, _ := meta.Accessor(obj)
	if o.GetName() != name {
		writeStatusError(w, apierrors.NewBadRequest("the name of the object does not match the name in the URL"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.getLocked(res, ns, name)
	if err != nil {
		writeStatusError(w, err)
		return
	}
	s.replaceLocked(w, res, ns, cur, obj)
}

// replaceLocked stores obj in place of cur, as an update or a patch does: refused when
// obj names another resourceVersion; the server's fields kept; the generation moves
// with the spec.
func (s *Server) replaceLocked(w http.ResponseWriter, res resource, ns string, cur, obj runtime.Object) {
	if err := validate(obj); err != nil {
		writeStatusError(w, err)
		return
	}
	o, _ := meta.Accessor(obj)
	c, _ := meta.Accessor(cur)
	if rv := o.GetResourceVersion(); rv != "" && rv != c.GetResourceVersion() {
		writeStatusError(w, apierrors.NewConflict(res.groupResource(), c.GetName(),
			fmt.Errorf("the object has been modified; please apply your changes to the latest version and try again")))
		return
	}
	o.SetName(c.GetName())
	o.SetNamespace(ns)
	o.SetUID(c.GetUID())
	o.SetCreationTimestamp(c.GetCreationTimestamp())
	o.SetGeneration(c.GetGeneration())
	if specChanged(cur, obj) {
		o.SetGeneration(c.GetGeneration() + 1)
	}
	s.putLocked(res, obj, false)
	writeJSON(w, http.StatusOK, obj.DeepCopyObject())
}

// handlePatch applies a JSON merge patch (RFC 7386) to a stored object, as the API
// server does for application/merge-patch+json; other patch types are refused with 415.
func (s *Server) handlePatch(w http.ResponseWriter, r *http.Request, res resource) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	if ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); strings.TrimSpace(ct) != "application/merge-patch+json" {
		writeStatusError(w, &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: http.StatusUnsupportedMediaType,
			Reason: metav1.StatusReasonUnsupportedMediaType, Message: fmt.Sprintf("kubefake serves only merge patches of %s, not %s", res.plural, ct)}})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeStatusError(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.getLocked(res, ns, name)
	if err != nil {
		writeStatusError(w, err)
		return
	}
	orig, err := json.Marshal(cur)
	if err != nil {
		writeStatusError(w, apierrors.NewInternalError(err))
		return
	}
	doc, err := jsonpatch.MergePatch(orig, body)
	if err != nil {
		writeStatusError(w, apierrors.NewBadRequest(fmt.Sprintf("apply patch: %v", err)))
		return
	}
	obj := res.newObj()
	if err := decodeObject(doc, obj); err != nil {
		writeStatusError(w, apierrors.NewBadRequest(fmt.Sprintf("decode %s: %v", res.gvk.Kind, err)))
		return
	}
	obj.GetObjectKind().SetGroupVersionKind(res.gvk)
	s.replaceLocked(w, res, ns, cur, obj)
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request, res resource) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	s.mu.Lock()
	defer s.mu.Unlock()
	obj, err := s.getLocked(res, ns, name)
	if err != nil {
		writeStatusError(w, err)
		return
	}
	// Preconditions in the DeleteOptions body (optimistic concurrency on delete).
	var opts metav1.DeleteOptions
	if body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20)); len(bytes.TrimSpace(body)) > 0 {
		opts.SetGroupVersionKind(metav1.SchemeGroupVersion.WithKind("DeleteOptions"))
		if err := decodeObject(body, &opts); err != nil {
			writeStatusError(w, apierrors.NewBadRequest(fmt.Sprintf("decode DeleteOptions: %v", err)))
			return
		}
	}
	if p := opts.Preconditions; p != nil {
		o, _ := meta.Accessor(obj)
		if p.ResourceVersion != nil && *p.ResourceVersion != o.GetResourceVersion() {
			writeStatusError(w, apierrors.NewConflict(res.groupResource(), name,
				fmt.Errorf("precondition failed: resourceVersion %s, stored %s", *p.ResourceVersion, o.GetResourceVersion())))
			return
		}
		if p.UID != nil && *p.UID != o.GetUID() {
			writeStatusError(w, apierrors.NewConflict(res.groupResource(), name,
				fmt.Errorf("precondition failed: uid %s, stored %s", *p.UID, o.GetUID())))
			return
		}
	}
	delete(s.objects[res.plural], objectKey(ns, name))
	_ = meta.NewAccessor().SetResourceVersion(obj, s.nextRVLocked())
	s.notifyLocked(res, "DELETED", obj)
	writeJSON(w, http.StatusOK, metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusSuccess,
		Details:  &metav1.StatusDetails{Name: name, Group: res.gvk.Group, Kind: res.plural},
	})
}

// specChanged reports whether a workload's spec differs, which bumps metadata.generation.
func specChanged(old, cur runtime.Object) bool {
	a, _ := json.Marshal(specOf(old))
	b, _ := json.Marshal(specOf(cur))
	return string(a) != string(b)
}

func specOf(obj runtime.Object) any {
	switch o := obj.(type) {
	case *appsv1.StatefulSet:
		return o.Spec
	case *appsv1.Deployment:
		return o.Spec
	case *coordinationv1.Lease:
		return o.Spec
	case *corev1.Pod:
		return o.Spec
	}
	return nil
}

// decodeBody reads a request body in any encoding client-go sends: typed clientsets send
// protobuf, others JSON or YAML.
func decodeBody(r *http.Request, into runtime.Object) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		return err
	}
	return decodeObject(body, into)
}

func decodeObject(body []byte, into runtime.Object) error {
	gvk := into.GetObjectKind().GroupVersionKind()
	_, _, err := scheme.Codecs.UniversalDeserializer().Decode(body, &gvk, into)
	return err
}

func isTrue(v string) bool { return v == "1" || v == "true" }

// maxConfigMapSize is the API server's limit on a ConfigMap's data and binaryData together
// (metadata apart).
const maxConfigMapSize = 1 << 20

// validate refuses what the API server's validation refuses and the bot could send.
func validate(obj runtime.Object) error {
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok {
		return nil
	}
	size := 0
	for _, v := range cm.Data {
		size += len(v)
	}
	for _, v := range cm.BinaryData {
		size += len(v)
	}
	if size > maxConfigMapSize {
		return apierrors.NewInvalid(schema.GroupKind{Kind: "ConfigMap"}, cm.Name,
			field.ErrorList{field.TooLong(field.NewPath(""), "", maxConfigMapSize)})
	}
	return nil
}
