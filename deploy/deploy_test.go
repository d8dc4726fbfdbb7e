// Package deploy holds the Kubernetes manifests and the Slack app manifest; this test
// decodes every one of them strictly, so a typo fails here and not in a cluster.
package deploy

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/nycmeshnet/cutoverbot/bot"
	"github.com/nycmeshnet/cutoverbot/ops/config"
)

var strict = kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme.Scheme, scheme.Scheme, kjson.SerializerOptions{Yaml: true, Strict: true})

// objects decodes every document of every manifest under dir (kustomization files apart).
func objects(t *testing.T, dir string) map[string]runtime.Object {
	t.Helper()
	out := map[string]runtime.Object{}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	require.NoError(t, err)
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" || filepath.Base(f) == "cutover.yaml" {
			continue
		}
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		for i, doc := range bytes.Split(raw, []byte("\n---\n")) {
			if len(bytes.TrimSpace(doc)) == 0 {
				continue
			}
			obj, gvk, err := strict.Decode(doc, nil, nil)
			require.NoError(t, err, "%s document %d", f, i+1)
			out[gvk.Kind+"/"+filepath.Base(f)+"#"+string(rune('0'+i))] = obj
		}
	}
	require.NotEmpty(t, out, dir)
	return out
}

type kustomization struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Namespace  string   `yaml:"namespace"`
	Resources  []string `yaml:"resources"`
	Patches    []struct {
		Path string `yaml:"path"`
	} `yaml:"patches"`
	Images []struct {
		Name   string `yaml:"name"`
		NewTag string `yaml:"newTag"`
	} `yaml:"images"`
	ConfigMapGenerator []struct {
		Name      string   `yaml:"name"`
		Namespace string   `yaml:"namespace"`
		Files     []string `yaml:"files"`
	} `yaml:"configMapGenerator"`
}

func decodeStrict(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(v), path)
}

func TestBaseDecodesAndIsHardened(t *testing.T) {
	objs := objects(t, "base")
	var k kustomization
	decodeStrict(t, "base/kustomization.yaml", &k)
	for _, r := range k.Resources {
		_, err := os.Stat(filepath.Join("base", r))
		assert.NoError(t, err, "kustomization names %s", r)
	}
	var overlay kustomization
	decodeStrict(t, "overlays/example/kustomization.yaml", &overlay)
	assert.Equal(t, []string{"../../base"}, overlay.Resources)

	var dep *appsv1.Deployment
	for _, o := range objs {
		if d, ok := o.(*appsv1.Deployment); ok {
			dep = d
		}
	}
	require.NotNil(t, dep)
	pod := dep.Spec.Template.Spec
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]
	assert.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
	assert.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
	require.NotNil(t, c.SecurityContext)
	assert.True(t, *c.SecurityContext.ReadOnlyRootFilesystem)
	assert.False(t, *c.SecurityContext.AllowPrivilegeEscalation)
	assert.Equal(t, "ALL", string(c.SecurityContext.Capabilities.Drop[0]))
	assert.True(t, *pod.SecurityContext.RunAsNonRoot)
	assert.NotNil(t, c.Resources.Limits.Memory())
	var envs []string
	for _, e := range c.Env {
		require.NotNil(t, e.ValueFrom, "%s comes from a Secret, never a literal", e.Name)
		require.NotNil(t, e.ValueFrom.SecretKeyRef)
		envs = append(envs, e.Name)
	}
	assert.ElementsMatch(t, []string{"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "GITHUB_TOKEN"}, envs)
	assert.Equal(t, appsv1.RecreateDeploymentStrategyType, dep.Spec.Strategy.Type, "one process owns the store")
}

// TestTargetClusterRBACIsExactlyWhatThePlanNeeds pins the Role in each MeshDB cluster.
func TestTargetClusterRBACIsExactlyWhatThePlanNeeds(t *testing.T) {
	var role *rbacv1.Role
	for _, o := range objects(t, "target-cluster") {
		if r, ok := o.(*rbacv1.Role); ok {
			role = r
		}
	}
	require.NotNil(t, role)
	assert.Equal(t, "meshdb", role.Namespace)
	got := map[string]string{}
	for _, r := range role.Rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				verbs := append([]string(nil), r.Verbs...)
				sort.Strings(verbs)
				got[g+"/"+res] = strings.Join(verbs, ",")
			}
		}
		assert.Empty(t, r.ResourceNames)
		assert.Empty(t, r.NonResourceURLs)
	}
	assert.Equal(t, map[string]string{
		"/pods":                   "get,list", // list: pods are found by label selector
		"/pods/exec":              "create",
		"apps/statefulsets/scale": "get,patch,update",
		"apps/deployments/scale":  "get,patch,update",
		"apps/statefulsets":       "get",
		"apps/deployments":        "get",
	}, got)
}

type slackManifest struct {
	DisplayInformation struct {
		Name        string `yaml:"name"`
		Description string `yaml:"description"`
	} `yaml:"display_information"`
	Features struct {
		AppHome struct {
			HomeTabEnabled             bool `yaml:"home_tab_enabled"`
			MessagesTabEnabled         bool `yaml:"messages_tab_enabled"`
			MessagesTabReadOnlyEnabled bool `yaml:"messages_tab_read_only_enabled"`
		} `yaml:"app_home"`
		BotUser struct {
			DisplayName  string `yaml:"display_name"`
			AlwaysOnline bool   `yaml:"always_online"`
		} `yaml:"bot_user"`
		SlashCommands []struct {
			Command      string `yaml:"command"`
			Description  string `yaml:"description"`
			UsageHint    string `yaml:"usage_hint"`
			ShouldEscape bool   `yaml:"should_escape"`
		} `yaml:"slash_commands"`
	} `yaml:"features"`
	OAuthConfig struct {
		Scopes struct {
			Bot []string `yaml:"bot"`
		} `yaml:"scopes"`
	} `yaml:"oauth_config"`
	Settings struct {
		EventSubscriptions struct {
			BotEvents []string `yaml:"bot_events"`
		} `yaml:"event_subscriptions"`
		Interactivity struct {
			IsEnabled bool `yaml:"is_enabled"`
		} `yaml:"interactivity"`
		OrgDeployEnabled     bool `yaml:"org_deploy_enabled"`
		SocketModeEnabled    bool `yaml:"socket_mode_enabled"`
		TokenRotationEnabled bool `yaml:"token_rotation_enabled"`
	} `yaml:"settings"`
}

func TestSlackAppManifest(t *testing.T) {
	var m slackManifest
	decodeStrict(t, "slack-app-manifest.yaml", &m)
	assert.True(t, m.Settings.SocketModeEnabled)
	assert.True(t, m.Settings.Interactivity.IsEnabled)
	require.Len(t, m.Features.SlashCommands, 1)
	assert.Equal(t, "/cutover", m.Features.SlashCommands[0].Command)
	var methods []string
	for m := range bot.MethodScopes {
		methods = append(methods, m)
	}
	want, err := bot.ScopesFor(methods)
	require.NoError(t, err)
	assert.ElementsMatch(t, want, m.OAuthConfig.Scopes.Bot, "the scopes of bot.MethodScopes, no more (the e2e tests check the bot calls no other method)")
	assert.True(t, m.Features.AppHome.HomeTabEnabled)
	assert.Equal(t, []string{"app_home_opened"}, m.Settings.EventSubscriptions.BotEvents)
}

func decodeFile(t *testing.T, path string) []runtime.Object {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []runtime.Object
	for i, doc := range bytes.Split(raw, []byte("\n---\n")) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, _, err := strict.Decode(doc, nil, nil)
		require.NoError(t, err, "%s document %d", path, i+1)
		out = append(out, obj)
	}
	return out
}

// TestHAOverlay pins the high-availability layout: two replicas on different nodes, the
// pod name as the election identity, the in-cluster token, and a Role in the bot's own
// namespace with exactly what the state store and the Lease need.
func TestHAOverlay(t *testing.T) {
	var k kustomization
	decodeStrict(t, "overlays/ha/kustomization.yaml", &k)
	assert.Contains(t, k.Resources, "../../base")
	for _, r := range k.Resources[1:] {
		_, err := os.Stat(filepath.Join("overlays/ha", r))
		assert.NoError(t, err, "kustomization names %s", r)
	}

	for _, p := range k.Patches {
		_, err := os.Stat(filepath.Join("overlays/ha", p.Path))
		assert.NoError(t, err, "kustomization patches with %s", p.Path)
	}

	var role *rbacv1.Role
	var binding *rbacv1.RoleBinding
	for _, o := range decodeFile(t, "overlays/ha/state-rbac.yaml") {
		switch v := o.(type) {
		case *rbacv1.Role:
			role = v
		case *rbacv1.RoleBinding:
			binding = v
		}
	}
	require.NotNil(t, role)
	require.NotNil(t, binding)
	assert.Equal(t, "cutoverbot", role.Namespace)
	got := map[string]string{}
	for _, r := range role.Rules {
		assert.Empty(t, r.ResourceNames)
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				verbs := append([]string(nil), r.Verbs...)
				sort.Strings(verbs)
				got[g+"/"+res] = strings.Join(verbs, ",")
			}
		}
	}
	assert.Equal(t, map[string]string{
		"/configmaps":                "create,delete,get,list,update",
		"coordination.k8s.io/leases": "create,get,update",
	}, got)
	assert.Equal(t, role.Name, binding.RoleRef.Name)
	require.Len(t, binding.Subjects, 1)
	assert.Equal(t, "cutoverbot", binding.Subjects[0].Name)

	objs := decodeFile(t, "overlays/ha/deployment-ha.yaml")
	require.Len(t, objs, 1)
	dep := objs[0].(*appsv1.Deployment)
	assert.Equal(t, int32(2), *dep.Spec.Replicas)
	assert.True(t, *dep.Spec.Template.Spec.AutomountServiceAccountToken)
	require.NotNil(t, dep.Spec.Template.Spec.Affinity.PodAntiAffinity)
	env := dep.Spec.Template.Spec.Containers[0].Env
	require.Len(t, env, 1)
	assert.Equal(t, "POD_NAME", env[0].Name)
	assert.Equal(t, "metadata.name", env[0].ValueFrom.FieldRef.FieldPath)

	cfg, _, err := config.Load("overlays/ha/cutover.yaml", config.Options{Getenv: func(string) string { return "" }})
	require.NoError(t, err)
	assert.Equal(t, "kubernetes", cfg.State.Backend)
	assert.Equal(t, "cutoverbot", cfg.State.Namespace)
}
