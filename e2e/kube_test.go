package e2e

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nycmeshnet/cutoverbot/bot/slackfake"
	"github.com/nycmeshnet/cutoverbot/ops/dns"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/kube"
	"github.com/nycmeshnet/cutoverbot/ops/snapshot"
	"github.com/nycmeshnet/cutoverbot/ops/tlswait"
	"github.com/nycmeshnet/cutoverbot/sandbox"
	"github.com/nycmeshnet/cutoverbot/sandbox/realcluster"
	"github.com/nycmeshnet/cutoverbot/sandbox/realkube"
	"github.com/nycmeshnet/cutoverbot/server"
)

// The tests named TestE2EKube* run against real control planes (`make e2e-kube`); without
// them they skip. Each MeshDB cluster is its own etcd, kube-apiserver and controllers, its
// workloads scaled by the real controllers, its pods' commands reaching the node through the
// API server's exec proxy, and the bot is the ServiceAccount of
// deploy/target-cluster/rbac.yaml with a token the API server issued.

// startRealHome is the bot's own cluster on a real control plane: its state ConfigMaps and
// its Lease, as the ServiceAccount the chart (deploy/helm) creates, with its Role.
func startRealHome(t *testing.T, dir string) *home {
	t.Helper()
	bins := realkube.Require(t)
	ctx := context.Background()
	c, err := realkube.Start(ctx, bins, realkube.Options{Dir: filepath.Join(dir, "home")})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	token, err := realcluster.StateIdentity(ctx, c, "cutoverbot")
	require.NoError(t, err)
	path := filepath.Join(dir, "home-kubeconfig")
	require.NoError(t, realkube.WriteKubeconfig(path, map[string]realkube.Context{"home": {Cluster: c, Token: token}}))
	return &home{real: c, kubeconfig: path}
}

// cutOff makes the home API server go away.
func (h *home) cutOff(t *testing.T) {
	t.Helper()
	if h.real != nil {
		h.real.StopAPIServer()
		return
	}
	h.srv.SetReachable(false)
}

// TestE2EKubeWholeCutover runs the default 18-step plan between two real clusters.
func TestE2EKubeWholeCutover(t *testing.T) {
	w := newWorld(t, worldOptions{installs: 1200, traffic: true, realKube: true})
	w.startBot(nil)
	w.command(alice, "start prod2 prod1")
	w.waitFor("the run header", func() bool { return w.header().TS != "" })
	w.approveAll(bob, "(completed)")
	rows := w.requireSameData()
	t.Logf("cutover complete between two real control planes; %d rows verified equal", rows)

	ctx := context.Background()
	for _, r := range w.traffic.Resolvers {
		assert.Equal(t, w.cfg.Clusters["prod1"].LBHostname, dns.Query(ctx, r.Addr(), w.cfg.DNS.Name).CNAME, "DNS points at the destination")
	}
	roots, err := snapshot.LoadRoots(w.traffic.CAFile)
	require.NoError(t, err)
	_, err = tlswait.Check(ctx, w.cfg.Clusters["prod1"].LBAddress, sandbox.ServiceHost, roots)
	assert.NoError(t, err, "the destination's LB presents a valid certificate")

	// The StatefulSet controllers did the scaling: celery is back on the destination and
	// stopped on the origin, with the pods to show for it.
	for _, c := range []struct {
		cluster *sandbox.Cluster
		want    int32
	}{{w.dest, 1}, {w.origin, 0}} {
		admin := w.real[c.cluster.Name].Admin
		sts, err := admin.AppsV1().StatefulSets(sandbox.Namespace).Get(ctx, sandbox.CeleryStatefulSet, metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, c.want, *sts.Spec.Replicas, c.cluster.Name)
		assert.Equal(t, c.want, sts.Status.Replicas, c.cluster.Name)
		pods, err := admin.CoreV1().Pods(sandbox.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=meshdb-celery-worker-app"})
		require.NoError(t, err)
		assert.Len(t, pods.Items, int(c.want), c.cluster.Name)
	}
	// The database commands reached each node through its API server's exec proxy.
	assert.True(t, ranOnNode(w.real[w.origin.Name], "pg_dump"), "pg_dump ran in the origin's postgres pod")
	assert.True(t, ranOnNode(w.real[w.dest.Name], "pg_restore"), "pg_restore ran in the destination's postgres pod")

	w.stopBot()
	run, _ := w.finalRun()
	assert.Equal(t, engine.Completed, run.State)
	assert.Len(t, run.Steps, 18)
}

func ranOnNode(c *realkube.Cluster, program string) bool {
	for _, e := range c.Execs() {
		if e.Container == sandbox.PostgresContainer && e.Done && e.Code == 0 && strings.Contains(strings.Join(e.Command, " "), program) {
			return true
		}
	}
	return false
}

// TestE2EKubeEachMissingRuleStopsThePreflight takes each permission of
// deploy/target-cluster/rbac.yaml out of the bot's Role in turn, alternating clusters:
// `check` names it (the real authorizer answers the SelfSubjectAccessReview), and a run
// started then fails its preflight naming it and is aborted with nothing run. With the Role
// whole again, preflight passes.
func TestE2EKubeEachMissingRuleStopsThePreflight(t *testing.T) {
	w := newWorld(t, worldOptions{installs: 200, realKube: true})
	ctx := context.Background()
	for _, r := range server.Check(ctx, w.cfg) {
		if strings.HasPrefix(r.Name, "permissions ") || strings.HasPrefix(r.Name, "cluster ") {
			assert.True(t, r.OK, "%s: %s", r.Name, r.Msg)
		}
	}
	w.startBot(nil)
	runs := 0
	want := append(append([]kube.Access(nil), kube.PlanAccess...), kube.AnnotateAccess(kube.StatefulSet, sandbox.CeleryStatefulSet))
	for i, a := range want {
		c := []*sandbox.Cluster{w.dest, w.origin}[i%2]
		restore, err := w.real[c.Name].RevokeFromRole(ctx, sandbox.Namespace, realcluster.BotRole, realcluster.BotServiceAccount, realkube.Permission(a))
		require.NoError(t, err, "%s", a)
		named := "may not " + a.String() + " in namespace meshdb"

		var perm server.CheckResult
		for _, r := range server.Check(ctx, w.cfg) {
			if r.Name == "permissions "+c.Name {
				perm = r
			}
		}
		assert.False(t, perm.OK, "check: %s", a)
		assert.Contains(t, perm.Msg, named)

		w.command(alice, "start prod2 prod1") // preflight runs at once
		runs++
		w.waitFor("run "+strconv.Itoa(runs)+"'s preflight to fail naming "+a.String(), func() bool {
			h, ok := newestHeader(w, runs)
			if !ok {
				return false
			}
			for _, m := range w.slack.Thread(channel, h.TS) {
				if strings.Contains(slackfake.TextOf(m), named) {
					return true
				}
			}
			return false
		})
		h, _ := newestHeader(w, runs)
		assert.NotContains(t, headerTextOf(w, h), "✅ 2.", "nothing past preflight ran")
		w.command(alice, "abort the bot's Role lacks "+a.String())
		w.waitFor("the run to end aborted", func() bool { return strings.Contains(headerTextOf(w, h), "aborted") })
		require.NoError(t, restore(ctx))
	}

	w.command(alice, "start prod2 prod1")
	runs++
	w.waitFor("preflight to pass and step 2 to wait for approval", func() bool {
		h, ok := newestHeader(w, runs)
		if !ok {
			return false
		}
		_, _, prompt := w.slack.FindButton(channel, h.TS, "Approve")
		return prompt && strings.Contains(headerTextOf(w, h), "✅ 1.")
	})
	// The runs' only commands in the pods were the end-of-run cleanup of their spool names
	// (rm -f): nothing read or changed the databases or the flag.
	for name, c := range w.real {
		for _, e := range c.Execs() {
			line := strings.Join(e.Command, " ")
			assert.True(t, strings.HasPrefix(line, "sh -c rm -f '/tmp/cutoverbot-"), "%s ran %q", name, line)
		}
	}
}

// newestHeader is the top-level message of the n-th run in the channel, once it is there.
func newestHeader(w *world, n int) (slackfake.Message, bool) {
	var headers []slackfake.Message
	for _, m := range w.slack.Messages(channel) {
		if strings.Contains(m.Text, "MeshDB cutover") {
			headers = append(headers, m)
		}
	}
	if len(headers) < n {
		return slackfake.Message{}, false
	}
	return headers[n-1], true
}

func headerTextOf(w *world, h slackfake.Message) string {
	m, _ := w.slack.Message(channel, h.TS)
	return slackfake.TextOf(m)
}

// TestE2EKubeTwoReplicasLeaderDiesFollowerResumes is the failover test with the state,
// the Lease and both MeshDB clusters on real API servers.
func TestE2EKubeTwoReplicasLeaderDiesFollowerResumes(t *testing.T) {
	h := startRealHome(t, t.TempDir())
	w := newWorld(t, worldOptions{installs: 600, mutate: h.haConfig, realKube: true})
	leaderDiesFollowerResumes(t, h, w)
}

// TestE2EKubeLeaderThatLosesItsLeaseStops stops the home API server under the leader.
func TestE2EKubeLeaderThatLosesItsLeaseStops(t *testing.T) {
	h := startRealHome(t, t.TempDir())
	w := newWorld(t, worldOptions{installs: 300, mutate: h.haConfig, realKube: true})
	leaderThatLosesItsLeaseStops(t, h, w)
}
