package server

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/kube"
	"github.com/nycmeshnet/cutoverbot/ops/kube/kubefake"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// The permissions check says what it found as data: the clusters whose Role holds all
// the plan needs, else each cluster's missing permissions (from the API server's
// SelfSubjectAccessReview answers) or why they could not be asked about.
func TestPermissionsCheckReturnsItsFindingsAsData(t *testing.T) {
	srv, kubeconfig := kubefake.StartForTest(t, kubefake.Options{}, "prod1")
	c, err := kube.Connect(kube.Options{Name: "prod1", Kubeconfig: kubeconfig, Context: "prod1", Namespace: "meshdb"})
	require.NoError(t, err)
	cfg := &config.Config{Clusters: map[string]config.Cluster{"prod1": {CeleryStatefulSet: "meshdb-celery-worker"}, "prod2": {}}}
	run := &engine.Run{Origin: "prod2", Destination: "prod1"}
	check := permissionsCheck(cfg, map[string]*kube.Cluster{"prod1": c})

	run.Origin = "prod1"
	found, err := check(context.Background(), run)
	require.NoError(t, err)
	assert.Equal(t, report.CheckPermissions{Count: len(kube.PlanAccess) + 1, Clusters: []string{"prod1", "prod1"}}, found)

	run.Origin = "prod2"
	exec := kube.Access{Verb: "create", Resource: "pods", Subresource: "exec"}
	srv.Deny(exec)
	found, err = check(context.Background(), run)
	assert.Nil(t, found)
	var f *report.Failed
	require.True(t, errors.As(err, &f), "%v", err)
	assert.Equal(t, report.Permissions{Clusters: []report.ClusterPermissions{
		{Cluster: "prod2", Err: report.Fail(report.NoCluster{Cluster: "prod2"}, nil).Error()},
		{Cluster: "prod1", Namespace: "meshdb", Missing: []string{exec.String()}},
	}}, f.Facts)
}
