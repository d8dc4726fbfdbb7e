package kubefake

import (
	"net/http"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/nycmeshnet/cutoverbot/ops/kube"
)

// Permission names one RBAC grant: a verb on a group's resource (and subresource).
type Permission = kube.Access

// Deny takes a permission away from the token, as a Role without it would: requests
// that need it get 403 Forbidden, and SelfSubjectAccessReviews answer not allowed.
func (s *Server) Deny(p Permission) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.denied == nil {
		s.denied = map[Permission]bool{}
	}
	s.denied[p] = true
}

// Allow gives back a permission Deny took away.
func (s *Server) Allow(p Permission) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.denied, p)
}

// deniedLocked: a permission denied for any object covers each one; one denied for one
// object (a Role's resourceNames) covers that object only.
func (s *Server) deniedLocked(p Permission) bool {
	anyName := p
	anyName.Name = ""
	return s.denied[p] || s.denied[anyName]
}

// permissionOf works out what a request needs, from its method and path; ok is false for
// paths that need no resource permission (discovery, version, reviews).
func permissionOf(r *http.Request) (Permission, string, bool) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	var group string
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		group = parts[1]
		parts = parts[3:]
	default:
		return Permission{}, "", false
	}
	ns := ""
	if len(parts) >= 2 && parts[0] == "namespaces" {
		ns = parts[1]
		parts = parts[2:]
	}
	if len(parts) == 0 || group == authorizationv1.GroupName {
		return Permission{}, "", false
	}
	p := Permission{Group: group, Resource: parts[0]}
	named := len(parts) >= 2
	if named {
		p.Name = parts[1]
	}
	if len(parts) >= 3 {
		p.Subresource = parts[2]
	}
	switch r.Method {
	case http.MethodGet:
		switch {
		case p.Subresource == "exec":
			p.Verb = "create" // the WebSocket upgrade is a GET; RBAC asks for create
		case named:
			p.Verb = "get"
		case r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("watch") == "1":
			p.Verb = "watch"
		default:
			p.Verb = "list"
		}
	case http.MethodPost:
		p.Verb = "create"
	case http.MethodPut:
		p.Verb = "update"
	case http.MethodPatch:
		p.Verb = "patch"
	case http.MethodDelete:
		p.Verb = "delete"
	default:
		return Permission{}, "", false
	}
	return p, ns, true
}

// forbidden answers 403 when the request needs a denied permission.
func (s *Server) forbidden(w http.ResponseWriter, r *http.Request) bool {
	p, _, ok := permissionOf(r)
	if !ok {
		return false
	}
	s.mu.Lock()
	no := s.deniedLocked(p)
	s.mu.Unlock()
	if !no {
		return false
	}
	gr := schema.GroupResource{Group: p.Group, Resource: p.Resource}
	writeStatusError(w, apierrors.NewForbidden(gr, "", errForbidden(p)))
	return true
}

type errForbidden Permission

func (e errForbidden) Error() string {
	return "kubefake: the token may not " + Permission(e).String()
}

// handleSSAR answers a SelfSubjectAccessReview from the deny list.
func (s *Server) handleSSAR(w http.ResponseWriter, r *http.Request) {
	var review authorizationv1.SelfSubjectAccessReview
	review.SetGroupVersionKind(authorizationv1.SchemeGroupVersion.WithKind("SelfSubjectAccessReview"))
	if err := decodeBody(r, &review); err != nil {
		writeStatusError(w, apierrors.NewBadRequest("decode SelfSubjectAccessReview: "+err.Error()))
		return
	}
	ra := review.Spec.ResourceAttributes
	if ra == nil {
		writeStatusError(w, apierrors.NewBadRequest("kubefake answers resourceAttributes reviews only"))
		return
	}
	p := Permission{Verb: ra.Verb, Group: ra.Group, Resource: ra.Resource, Subresource: ra.Subresource, Name: ra.Name}
	s.mu.Lock()
	no := s.deniedLocked(p)
	s.mu.Unlock()
	review.Status = authorizationv1.SubjectAccessReviewStatus{Allowed: !no}
	if no {
		review.Status.Reason = "denied by kubefake.Deny"
	}
	writeJSON(w, http.StatusCreated, &review)
}
