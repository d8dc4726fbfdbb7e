package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/kube/kubefake"
	"github.com/nycmeshnet/cutoverbot/server"
)

func TestCheckTriesEveryConnection(t *testing.T) {
	w := newWorld(t, worldOptions{installs: 100})
	results := server.Check(context.Background(), w.cfg)
	names := map[string]bool{}
	for _, r := range results {
		names[r.Name] = true
		assert.True(t, r.OK, "%s: %s", r.Name, r.Msg)
	}
	for _, want := range []string{"slack bot token", "slack app token", "slack channel", "cluster prod1", "cluster prod2", "permissions prod1", "permissions prod2",
		"lb_address prod1", "github nycmeshnet/nycmesh-dns", "service url", "resolver " + w.cfg.DNS.Resolvers[0]} {
		assert.True(t, names[want], "no check %q", want)
	}

	// Broken tokens and a stopped resolver each fail with what to do; the rest still run.
	w.cfg.Tokens.SlackApp = config.NewSecret("xapp-wrong")
	w.cfg.Tokens.GitHub = config.NewSecret("wrong")
	w.traffic.Resolvers[0].SetDrop(true)
	failed := map[string]string{}
	for _, r := range server.Check(context.Background(), w.cfg) {
		if !r.OK {
			failed[r.Name] = r.Msg
		}
	}
	assert.Contains(t, failed["slack app token"], "connections:write")
	assert.Contains(t, failed["github nycmeshnet/meshdb"], "GITHUB_TOKEN")
	assert.Contains(t, failed, "resolver "+w.cfg.DNS.Resolvers[0])
	// A Role without pods/exec in prod1: the check says exactly what is missing.
	w.dest.Kube.Deny(kubefake.Permission{Verb: "create", Resource: "pods", Subresource: "exec"})
	w.dest.Kube.Deny(kubefake.Permission{Verb: "patch", Group: "apps", Resource: "statefulsets", Subresource: "scale"})
	for _, r := range server.Check(context.Background(), w.cfg) {
		if !r.OK {
			failed[r.Name] = r.Msg
		}
	}
	assert.Contains(t, failed["permissions prod1"], "may not create pods/exec, patch apps/statefulsets/scale in namespace meshdb")
	assert.Contains(t, failed["permissions prod1"], "deploy/target-cluster/rbac.yaml")
	assert.NotContains(t, failed, "permissions prod2")
	assert.Len(t, failed, 6, "%v", failed)
	for _, msg := range failed {
		assert.False(t, strings.Contains(msg, "wrong"), "no token in %q", msg)
	}
}

func TestCheckStateInKubernetes(t *testing.T) {
	h := startHome(t, t.TempDir())
	w := newWorld(t, worldOptions{installs: 100, mutate: h.haConfig})
	find := func() server.CheckResult {
		for _, r := range server.Check(context.Background(), w.cfg) {
			if r.Name == "state in kubernetes" {
				return r
			}
		}
		t.Fatal("no state check")
		return server.CheckResult{}
	}
	r := find()
	assert.True(t, r.OK, r.Msg)
	assert.Contains(t, r.Msg, "namespace cutoverbot")

	h.srv.Deny(kubefake.Permission{Verb: "update", Group: "coordination.k8s.io", Resource: "leases"})
	r = find()
	assert.False(t, r.OK)
	assert.Contains(t, r.Msg, "may not update coordination.k8s.io/leases in namespace cutoverbot")
}
