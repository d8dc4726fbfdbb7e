package realkube

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// Permission is one verb on a group's resource (and subresource), of one object when Name
// is set (a Role's resourceNames).
type Permission struct {
	Verb, Group, Resource, Subresource string
	Name                               string
}

// RevokeFromRole rewrites a Role as one rule per group, resource and verb, without p, and
// waits until the API server's authorizer denies p to the ServiceAccount sa of the
// namespace. It returns a function that puts the Role back as it was.
func (c *Cluster) RevokeFromRole(ctx context.Context, ns, role, sa string, p Permission) (restore func(context.Context) error, err error) {
	roles := c.Admin.RbacV1().Roles(ns)
	orig, err := roles.Get(ctx, role, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("realkube: read role %s/%s: %w", ns, role, err)
	}
	var rules []rbacv1.PolicyRule
	removed := false
	for _, rule := range orig.Rules {
		for _, g := range rule.APIGroups {
			for _, res := range rule.Resources {
				for _, v := range rule.Verbs {
					resource, sub, _ := strings.Cut(res, "/")
					if g == p.Group && resource == p.Resource && sub == p.Subresource && v == p.Verb &&
						slices.Equal(rule.ResourceNames, names(p.Name)) {
						removed = true
						continue
					}
					rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{g}, Resources: []string{res}, Verbs: []string{v},
						ResourceNames: rule.ResourceNames})
				}
			}
		}
	}
	if !removed {
		return nil, fmt.Errorf("realkube: role %s/%s does not grant %+v", ns, role, p)
	}
	changed := orig.DeepCopy()
	changed.Rules = rules
	if _, err := roles.Update(ctx, changed, metav1.UpdateOptions{}); err != nil {
		return nil, fmt.Errorf("realkube: update role %s/%s: %w", ns, role, err)
	}
	if err := c.waitAllowed(ctx, ns, sa, p, false); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		cur, err := roles.Get(ctx, role, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Rules = orig.Rules
		if _, err := roles.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("realkube: restore role %s/%s: %w", ns, role, err)
		}
		return c.waitAllowed(ctx, ns, sa, p, true)
	}, nil
}

// waitAllowed waits until the authorizer's answer about p for the ServiceAccount is want
// (it reads Roles through a cache, so a change takes a moment).
func (c *Cluster) waitAllowed(ctx context.Context, ns, sa string, p Permission, want bool) error {
	review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   "system:serviceaccount:" + ns + ":" + sa,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: p.Verb, Group: p.Group,
			Resource: p.Resource, Subresource: p.Subresource, Name: p.Name},
	}}
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		res, err := c.Admin.AuthorizationV1().SubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		return err == nil && res.Status.Allowed == want, nil
	})
	if err != nil {
		return fmt.Errorf("realkube: waiting for the authorizer to answer allowed=%v for %+v: %w", want, p, err)
	}
	return nil
}

// names is a rule's resourceNames for a permission of one object, or of any.
func names(name string) []string {
	if name == "" {
		return nil
	}
	return []string{name}
}
