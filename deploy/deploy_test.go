// Package deploy holds the Helm chart, the target clusters' RBAC and the Slack app
// manifest; these tests decode every one of them strictly, so a typo fails here and not
// in a cluster.
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
	"go.yaml.in/yaml/v3"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/nycmeshnet/cutoverbot/bot"
)

var strict = kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme.Scheme, scheme.Scheme, kjson.SerializerOptions{Yaml: true, Strict: true})

// objects decodes every document of every manifest under dir.
func objects(t *testing.T, dir string) map[string]runtime.Object {
	t.Helper()
	out := map[string]runtime.Object{}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	require.NoError(t, err)
	for _, f := range files {
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

// rules flattens a Role's rules to group/resource -> sorted verbs, refusing any rule
// narrowed by name or aimed at a non-resource URL (the checks compare exact sets).
func rules(t *testing.T, rs []rbacv1.PolicyRule) map[string]string {
	t.Helper()
	got := map[string]string{}
	for _, r := range rs {
		assert.Empty(t, r.NonResourceURLs)
		names := ""
		if len(r.ResourceNames) > 0 {
			names = "[" + strings.Join(r.ResourceNames, ",") + "]"
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				verbs := append([]string(nil), r.Verbs...)
				sort.Strings(verbs)
				got[g+"/"+res+names] = strings.Join(verbs, ",")
			}
		}
	}
	return got
}

func decodeStrict(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(v), path)
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
	assert.Equal(t, map[string]string{
		"/pods":                   "get,list", // list: pods are found by label selector
		"/pods/exec":              "create",
		"apps/statefulsets/scale": "get,patch,update",
		"apps/deployments/scale":  "get,patch,update",
		"apps/statefulsets":       "get",
		"apps/deployments":        "get",
		// patch of the celery StatefulSet only, for kube.ReplicasAnnotation
		"apps/statefulsets[meshdb-celery-worker]": "patch",
	}, rules(t, role.Rules))
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
