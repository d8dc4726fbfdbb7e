package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kyaml "k8s.io/apimachinery/pkg/util/yaml"
	syaml "sigs.k8s.io/yaml"

	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/steps"
	"github.com/nycmeshnet/cutoverbot/server"
)

const (
	chartDir    = "helm/cutoverbot"
	exampleFile = "../cutover.example.yaml"
	namespace   = "cutoverbot"
	image       = "ghcr.io/nycmeshnet/cutoverbot"
)

// exampleConfig is cutover.example.yaml as shipped: what a person passes with
// --set-file configuration=cutover.yaml after filling it in.
func exampleConfig(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(exampleFile)
	require.NoError(t, err)
	return string(b)
}

// haConfig is the example with the state section a two-replica install needs.
func haConfig(t *testing.T) string {
	t.Helper()
	src := exampleConfig(t)
	const file = "  backend: file                 # file = embedded store under dir; kubernetes = shared, for HA\n"
	require.Contains(t, src, file)
	return strings.Replace(src, file, "  backend: kubernetes\n  namespace: "+namespace+"\n", 1)
}

// serviceMonitor is the part of Prometheus Operator's ServiceMonitor the chart writes;
// decoded strictly, so a misspelt field fails.
type serviceMonitor struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path"`
			Interval string `json:"interval"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// rendered is one install's objects, by kind.
type rendered struct {
	deployment     *appsv1.Deployment
	serviceAccount *corev1.ServiceAccount
	configMap      *corev1.ConfigMap
	pvc            *corev1.PersistentVolumeClaim
	role           *rbacv1.Role
	roleBinding    *rbacv1.RoleBinding
	networkPolicy  *networkingv1.NetworkPolicy
	service        *corev1.Service
	serviceMonitor *serviceMonitor
	count          int
	notes          string
}

// render renders the chart with Helm's own engine, as `helm install` would, with
// values over the chart's defaults, and decodes every object strictly.
func render(t *testing.T, values map[string]any) (*rendered, error) {
	t.Helper()
	ch, err := loader.Load(chartDir)
	require.NoError(t, err)
	vals, err := util.ToRenderValues(ch, values, common.ReleaseOptions{Name: "cutoverbot", Namespace: namespace, Revision: 1, IsInstall: true}, common.DefaultCapabilities)
	require.NoError(t, err)
	files, err := engine.Engine{Strict: true}.RenderWithContext(t.Context(), ch, vals)
	if err != nil {
		return nil, err
	}
	out := &rendered{}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if strings.HasSuffix(name, "NOTES.txt") {
			out.notes = files[name]
			continue
		}
		if !strings.HasSuffix(name, ".yaml") {
			continue
		}
		r := kyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(files[name])))
		for {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err, name)
			if len(bytes.TrimSpace(stripComments(doc))) == 0 {
				continue
			}
			out.count++
			if bytes.Contains(doc, []byte("kind: ServiceMonitor")) {
				var sm serviceMonitor
				require.NoError(t, syaml.UnmarshalStrict(doc, &sm), "%s:\n%s", name, doc)
				out.serviceMonitor = &sm
				continue
			}
			obj, _, err := strict.Decode(doc, nil, nil)
			require.NoError(t, err, "%s:\n%s", name, doc)
			out.add(t, obj)
		}
	}
	return out, nil
}

func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for _, l := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(l), []byte("#")) {
			b.Write(l)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

func (r *rendered) add(t *testing.T, obj runtime.Object) {
	t.Helper()
	switch o := obj.(type) {
	case *appsv1.Deployment:
		r.deployment = o
	case *corev1.ServiceAccount:
		r.serviceAccount = o
	case *corev1.ConfigMap:
		r.configMap = o
	case *corev1.PersistentVolumeClaim:
		r.pvc = o
	case *rbacv1.Role:
		r.role = o
	case *rbacv1.RoleBinding:
		r.roleBinding = o
	case *networkingv1.NetworkPolicy:
		r.networkPolicy = o
	case *corev1.Service:
		r.service = o
	default:
		t.Fatalf("the chart renders a %T the test does not check", obj)
	}
}

func mustRender(t *testing.T, values map[string]any) *rendered {
	t.Helper()
	r, err := render(t, values)
	require.NoError(t, err)
	require.NotNil(t, r.deployment)
	return r
}

// checkHardened is what every install must hold, whatever the values.
func checkHardened(t *testing.T, r *rendered) {
	t.Helper()
	dep := r.deployment
	assert.Equal(t, namespace, dep.Namespace)
	pod := dep.Spec.Template.Spec
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]
	assert.Equal(t, image+":v0.1.0", c.Image, "the image the release workflow publishes")
	assert.Equal(t, []string{"serve", "--config", "/etc/cutoverbot/cutover.yaml"}, c.Args)
	assert.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
	assert.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
	require.Len(t, c.Ports, 1)
	assert.Equal(t, int32(8080), c.Ports[0].ContainerPort, "http.listen of the configuration")
	require.NotNil(t, c.SecurityContext)
	assert.True(t, *c.SecurityContext.ReadOnlyRootFilesystem)
	assert.False(t, *c.SecurityContext.AllowPrivilegeEscalation)
	assert.Equal(t, []corev1.Capability{"ALL"}, c.SecurityContext.Capabilities.Drop)
	require.NotNil(t, pod.SecurityContext)
	assert.True(t, *pod.SecurityContext.RunAsNonRoot)
	assert.Equal(t, int64(65532), *pod.SecurityContext.RunAsUser)
	assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, pod.SecurityContext.SeccompProfile.Type)
	assert.False(t, c.Resources.Limits.Memory().IsZero(), "a memory limit")
	tokens := map[string]string{}
	for _, e := range c.Env {
		if e.Name == "POD_NAME" {
			continue
		}
		require.NotNil(t, e.ValueFrom, "%s comes from a Secret, never a literal", e.Name)
		require.NotNil(t, e.ValueFrom.SecretKeyRef, e.Name)
		assert.Equal(t, "cutoverbot-tokens", e.ValueFrom.SecretKeyRef.Name)
		tokens[e.Name] = e.ValueFrom.SecretKeyRef.Key
	}
	assert.Equal(t, map[string]string{"SLACK_BOT_TOKEN": "slack-bot-token", "SLACK_APP_TOKEN": "slack-app-token", "GITHUB_TOKEN": "github-token"}, tokens)
	require.NotNil(t, r.serviceAccount)
	assert.Equal(t, pod.ServiceAccountName, r.serviceAccount.Name)
	assert.False(t, *r.serviceAccount.AutomountServiceAccountToken)
	require.NotNil(t, r.networkPolicy)
	assert.Equal(t, dep.Spec.Selector.MatchLabels, r.networkPolicy.Spec.PodSelector.MatchLabels)
	require.Len(t, r.networkPolicy.Spec.Ingress, 1)
	assert.Equal(t, int32(8080), r.networkPolicy.Spec.Ingress[0].Ports[0].Port.IntVal, "inbound: the health port only")
	// The configuration goes into the ConfigMap as given, and it loads.
	require.NotNil(t, r.configMap)
	cfgPath := filepath.Join(t.TempDir(), "cutover.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(r.configMap.Data["cutover.yaml"]), 0o600))
	_, _, err := config.Load(cfgPath, config.Options{Getenv: func(string) string { return "" }})
	require.NoError(t, err)
	assert.Contains(t, r.notes, "history --server http://localhost:8080")
}

func TestChartDefaultValues(t *testing.T) {
	cfg := exampleConfig(t)
	r := mustRender(t, map[string]any{"configuration": cfg})
	checkHardened(t, r)
	assert.Equal(t, cfg, r.configMap.Data["cutover.yaml"], "the configuration byte for byte")
	dep := r.deployment
	assert.Equal(t, int32(1), *dep.Spec.Replicas)
	assert.Equal(t, appsv1.RecreateDeploymentStrategyType, dep.Spec.Strategy.Type, "one process owns the bbolt file")
	assert.False(t, *dep.Spec.Template.Spec.AutomountServiceAccountToken, "no token for the cluster the bot runs in")
	assert.Nil(t, r.role, "the file store needs no permission in the bot's own cluster")
	assert.Nil(t, r.roleBinding)
	require.NotNil(t, r.pvc)
	assert.Equal(t, "keep", r.pvc.Annotations["helm.sh/resource-policy"], "runs outlive an uninstall")
	assert.Equal(t, r.pvc.Name, volume(t, dep, "state").PersistentVolumeClaim.ClaimName)
	assert.Nil(t, r.service)
	assert.Nil(t, r.serviceMonitor)
	assert.Nil(t, dep.Spec.Template.Spec.Affinity)
	assert.Equal(t, 5, r.count, "ServiceAccount, ConfigMap, PVC, Deployment, NetworkPolicy and nothing else")
}

func TestChartHAValues(t *testing.T) {
	r := mustRender(t, map[string]any{"configuration": haConfig(t), "replicaCount": 2})
	checkHardened(t, r)
	dep := r.deployment
	assert.Equal(t, int32(2), *dep.Spec.Replicas)
	assert.Equal(t, appsv1.RollingUpdateDeploymentStrategyType, dep.Spec.Strategy.Type, "only the leader acts")
	assert.Equal(t, int32(0), dep.Spec.Strategy.RollingUpdate.MaxSurge.IntVal)
	assert.True(t, *dep.Spec.Template.Spec.AutomountServiceAccountToken, "the in-cluster client for ConfigMaps and the Lease")
	require.NotNil(t, dep.Spec.Template.Spec.Affinity)
	anti := dep.Spec.Template.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	require.Len(t, anti, 1)
	assert.Equal(t, "kubernetes.io/hostname", anti[0].TopologyKey)
	assert.Equal(t, dep.Spec.Selector.MatchLabels, anti[0].LabelSelector.MatchLabels)
	var podName *corev1.EnvVar
	for i, e := range dep.Spec.Template.Spec.Containers[0].Env {
		if e.Name == "POD_NAME" {
			podName = &dep.Spec.Template.Spec.Containers[0].Env[i]
		}
	}
	require.NotNil(t, podName, "the election identity")
	assert.Equal(t, "metadata.name", podName.ValueFrom.FieldRef.FieldPath)
	assert.Nil(t, r.pvc, "each replica's spool is its own emptyDir")
	assert.NotNil(t, volume(t, dep, "state").EmptyDir)

	require.NotNil(t, r.role)
	require.NotNil(t, r.roleBinding)
	assert.Equal(t, namespace, r.role.Namespace)
	assert.Equal(t, map[string]string{
		"/configmaps":                "create,delete,get,list,update",
		"coordination.k8s.io/leases": "create,get,update",
	}, rules(t, r.role.Rules))
	assert.Equal(t, r.role.Name, r.roleBinding.RoleRef.Name)
	assert.Equal(t, "Role", r.roleBinding.RoleRef.Kind)
	require.Len(t, r.roleBinding.Subjects, 1)
	assert.Equal(t, r.serviceAccount.Name, r.roleBinding.Subjects[0].Name)
	assert.Equal(t, namespace, r.roleBinding.Subjects[0].Namespace)
}

func TestChartServiceAndServiceMonitor(t *testing.T) {
	r := mustRender(t, map[string]any{"configuration": exampleConfig(t),
		"service": map[string]any{"enabled": true}, "serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "kube-prometheus"}}})
	checkHardened(t, r)
	require.NotNil(t, r.service)
	assert.Equal(t, corev1.ServiceTypeClusterIP, r.service.Spec.Type, "cluster-internal")
	assert.Equal(t, r.deployment.Spec.Selector.MatchLabels, r.service.Spec.Selector)
	require.NotNil(t, r.serviceMonitor)
	assert.Equal(t, "monitoring.coreos.com/v1", r.serviceMonitor.APIVersion)
	assert.Equal(t, r.service.Labels["app.kubernetes.io/name"], r.serviceMonitor.Spec.Selector.MatchLabels["app.kubernetes.io/name"])
	assert.Equal(t, "kube-prometheus", r.serviceMonitor.Metadata.Labels["release"])
	require.Len(t, r.serviceMonitor.Spec.Endpoints, 1)
	assert.Equal(t, "/metrics", r.serviceMonitor.Spec.Endpoints[0].Path)
	assert.Equal(t, r.service.Spec.Ports[0].Name, r.serviceMonitor.Spec.Endpoints[0].Port)
}

func TestChartImageByDigest(t *testing.T) {
	const digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
	r := mustRender(t, map[string]any{"configuration": exampleConfig(t), "image": map[string]any{"digest": digest}})
	assert.Equal(t, image+"@"+digest, r.deployment.Spec.Template.Spec.Containers[0].Image)
}

// TestChartRefusals: values that cannot work stop the install with what to change.
func TestChartRefusals(t *testing.T) {
	ex := exampleConfig(t)
	cases := []struct {
		name   string
		values map[string]any
		says   string
	}{
		{"no configuration", map[string]any{}, "pass your cutover.yaml with --set-file configuration=cutover.yaml"},
		{"not YAML", map[string]any{"configuration": "slack: [unclosed"}, "configuration does not parse as YAML"},
		{"three replicas", map[string]any{"configuration": ex, "replicaCount": 3}, "replicaCount is 3"},
		{"two replicas on a file", map[string]any{"configuration": ex, "replicaCount": 2}, "replicaCount 2 needs state.backend: kubernetes"},
		{"state elsewhere", map[string]any{"configuration": strings.Replace(haConfig(t), "namespace: "+namespace+"\n", "namespace: meshdb\n", 1), "replicaCount": 2},
			`state.namespace is "meshdb" but the release is in "cutoverbot"`},
		{"kubeconfig elsewhere", map[string]any{"configuration": strings.Replace(ex, "kubeconfig: /etc/cutoverbot/kubeconfig", "kubeconfig: /etc/cutoverbot/clusters/kubeconfig", 1)},
			`clusters.prod1.kubeconfig is "/etc/cutoverbot/clusters/kubeconfig" but the chart mounts the kubeconfig at "/etc/cutoverbot/kubeconfig"`},
		{"a CA file not mounted", map[string]any{"configuration": strings.Replace(ex, `ca_file: ""`, `ca_file: /etc/ssl/meshdb.pem`, 1)},
			`service.ca_file is "/etc/ssl/meshdb.pem" but the chart mounts no such file`},
		{"no state dir", map[string]any{"configuration": strings.Replace(ex, "dir: /var/lib/cutoverbot", `dir: ""`, 1)}, "state.dir is empty"},
		{"a ServiceMonitor without a Service", map[string]any{"configuration": ex, "serviceMonitor": map[string]any{"enabled": true}}, "serviceMonitor.enabled needs service.enabled"},
		{"kubeconfig outside the config directory", map[string]any{"configuration": ex, "kubeconfig": map[string]any{"path": "/kube/config"}}, "kubeconfig.path must be under /etc/cutoverbot/"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(t, tc.values)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.says)
		})
	}
}

// TestConfigurationPathsAreMounted reads every path the configuration names (the
// clusters' kubeconfig, the state store's kubeconfig, service.ca_file, state.dir) and
// finds it where the rendered Deployment puts it, for the example as shipped, for the
// HA layout, and with a CA file.
func TestConfigurationPathsAreMounted(t *testing.T) {
	withCA := strings.Replace(exampleConfig(t), `ca_file: ""`, `ca_file: /etc/cutoverbot/ca/meshdb-root.pem`, 1)
	cases := []struct {
		name   string
		values map[string]any
	}{
		{"example", map[string]any{"configuration": exampleConfig(t)}},
		{"ha", map[string]any{"configuration": haConfig(t), "replicaCount": 2}},
		{"ca file", map[string]any{"configuration": withCA, "caFiles": map[string]any{"existingSecret": "meshdb-ca", "keys": []any{"meshdb-root.pem"}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRender(t, tc.values)
			// The file's own fields, as the bot reads them (config.Load would also open
			// service.ca_file, which exists only in the pod).
			var cfg config.Config
			require.NoError(t, yaml.Unmarshal([]byte(r.configMap.Data["cutover.yaml"]), &cfg))
			require.Len(t, cfg.Clusters, 2)
			files, dirs := mounted(t, r.deployment)
			var read []string
			for name, c := range cfg.Clusters {
				require.NotEmpty(t, c.Kubeconfig, "cluster %s", name)
				read = append(read, c.Kubeconfig)
			}
			if cfg.State.Kubeconfig != "" {
				read = append(read, cfg.State.Kubeconfig)
			}
			if cfg.Service.CAFile != "" {
				read = append(read, cfg.Service.CAFile)
			}
			for _, p := range read {
				assert.Contains(t, files, p, "the configuration reads %s", p)
			}
			assert.Contains(t, files, "/etc/cutoverbot/cutover.yaml", "serve --config reads it")
			assert.True(t, dirs[cfg.State.Dir], "state.dir %s is a volume of its own (writable)", cfg.State.Dir)
			if tc.name == "ca file" {
				assert.Contains(t, files, "/etc/cutoverbot/ca/meshdb-root.pem")
			}
		})
	}
}

// mounted lists the files the Deployment's projected config volume places, by their
// path in the container, and the writable directories mounted.
func mounted(t *testing.T, dep *appsv1.Deployment) (files []string, writable map[string]bool) {
	t.Helper()
	writable = map[string]bool{}
	c := dep.Spec.Template.Spec.Containers[0]
	for _, m := range c.VolumeMounts {
		v := volume(t, dep, m.Name)
		if !m.ReadOnly {
			writable[m.MountPath] = true
		}
		if v.Projected == nil {
			continue
		}
		for _, src := range v.Projected.Sources {
			var items []corev1.KeyToPath
			switch {
			case src.ConfigMap != nil:
				items = src.ConfigMap.Items
			case src.Secret != nil:
				items = src.Secret.Items
			}
			require.NotEmpty(t, items, "each projected source names its files")
			for _, it := range items {
				files = append(files, filepath.Join(m.MountPath, it.Path))
			}
		}
	}
	return files, writable
}

func volume(t *testing.T, dep *appsv1.Deployment, name string) corev1.Volume {
	t.Helper()
	for _, v := range dep.Spec.Template.Spec.Volumes {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("no volume %q", name)
	return corev1.Volume{}
}

// TestOneSourceOfTruth: the chart is the only description of the bot's own install.
func TestOneSourceOfTruth(t *testing.T) {
	var kustomize []string
	require.NoError(t, filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (d.Name() == "kustomization.yaml" || d.Name() == "kustomization.yml") {
			kustomize = append(kustomize, p)
		}
		return err
	}))
	assert.Empty(t, kustomize)
}

// TestChartLint runs Helm's own linter (`helm lint`) with the default and the HA values.
// (Lint mode lets the chart's own refusals pass; TestChartRefusals checks those.)
func TestChartLint(t *testing.T) {
	for _, values := range []map[string]any{
		{"configuration": exampleConfig(t)},
		{"configuration": haConfig(t), "replicaCount": 2},
	} {
		l := lint.RunAll(chartDir, values, namespace)
		for _, m := range l.Messages {
			assert.Less(t, m.Severity, support.WarningSev, "helm lint: %s", m.Error())
		}
	}
}

// A rollout during a step must not SIGKILL the bot before it has drained the step and
// stopped the commands the step started in the pods.
func TestGracePeriodOutlastsTheDrain(t *testing.T) {
	need := server.DefaultDrainTimeout + steps.StopOwnTimeout
	for name, values := range map[string]map[string]any{
		"default": {"configuration": exampleConfig(t)},
		"ha":      {"configuration": haConfig(t), "replicaCount": 2},
	} {
		grace := mustRender(t, values).deployment.Spec.Template.Spec.TerminationGracePeriodSeconds
		require.NotNil(t, grace, "%s: terminationGracePeriodSeconds is set (the default 30 s is shorter than the drain)", name)
		assert.Greater(t, time.Duration(*grace)*time.Second, need, "%s: grace period vs drain %s + stop %s", name, server.DefaultDrainTimeout, steps.StopOwnTimeout)
	}
}
