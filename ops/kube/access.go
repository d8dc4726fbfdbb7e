package kube

import (
	"context"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// Access is one permission the bot needs in a namespace.
type Access struct {
	Verb, Group, Resource, Subresource string
	Name                               string // one object only (a Role's resourceNames), or any
}

func (a Access) String() string {
	r := a.Resource
	if a.Subresource != "" {
		r += "/" + a.Subresource
	}
	if a.Group != "" {
		r = a.Group + "/" + r
	}
	if a.Name != "" {
		r += " " + a.Name
	}
	return a.Verb + " " + r
}

// AnnotateAccess is the permission to record the replica count on the workload the
// plan scales (kube.ReplicasAnnotation): patch of that one object only.
func AnnotateAccess(kind Workload, name string) Access {
	res := "statefulsets"
	if kind == Deployment {
		res = "deployments"
	}
	return Access{Verb: "patch", Group: "apps", Resource: res, Name: name}
}

// PlanAccess is what the cutover's steps need in each MeshDB cluster's namespace: the
// rules of deploy/target-cluster/rbac.yaml.
var PlanAccess = []Access{
	{Verb: "get", Resource: "pods"},
	{Verb: "list", Resource: "pods"},
	{Verb: "create", Resource: "pods", Subresource: "exec"},
	{Verb: "get", Group: "apps", Resource: "statefulsets"},
	{Verb: "get", Group: "apps", Resource: "deployments"},
	{Verb: "get", Group: "apps", Resource: "statefulsets", Subresource: "scale"},
	{Verb: "update", Group: "apps", Resource: "statefulsets", Subresource: "scale"},
	{Verb: "patch", Group: "apps", Resource: "statefulsets", Subresource: "scale"},
	{Verb: "get", Group: "apps", Resource: "deployments", Subresource: "scale"},
	{Verb: "update", Group: "apps", Resource: "deployments", Subresource: "scale"},
	{Verb: "patch", Group: "apps", Resource: "deployments", Subresource: "scale"},
}

// StateAccess is what state.backend kubernetes needs in the bot's own namespace.
var StateAccess = []Access{
	{Verb: "get", Resource: "configmaps"},
	{Verb: "list", Resource: "configmaps"},
	{Verb: "create", Resource: "configmaps"},
	{Verb: "update", Resource: "configmaps"},
	{Verb: "delete", Resource: "configmaps"},
	{Verb: "get", Group: "coordination.k8s.io", Resource: "leases"},
	{Verb: "create", Group: "coordination.k8s.io", Resource: "leases"},
	{Verb: "update", Group: "coordination.k8s.io", Resource: "leases"},
}

// Missing asks the API server (SelfSubjectAccessReview) about each permission in the
// cluster's namespace and returns the ones this identity lacks.
func (c *Cluster) Missing(ctx context.Context, want []Access) ([]Access, error) {
	var missing []Access
	for _, a := range want {
		cctx, cancel := c.call(ctx)
		review, err := c.client.AuthorizationV1().SelfSubjectAccessReviews().Create(cctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: c.namespace, Verb: a.Verb, Group: a.Group, Resource: a.Resource, Subresource: a.Subresource, Name: a.Name,
			}},
		}, metav1.CreateOptions{})
		cancel()
		if err != nil {
			return nil, report.Fail(report.AccessReview{Cluster: c.name, Namespace: c.namespace, Access: a.String()}, err)
		}
		if !review.Status.Allowed {
			missing = append(missing, a)
		}
	}
	return missing, nil
}

// DescribeMissing renders missing permissions for a message.
func DescribeMissing(missing []Access) string {
	parts := make([]string, len(missing))
	for i, a := range missing {
		parts[i] = a.String()
	}
	return strings.Join(parts, ", ")
}
