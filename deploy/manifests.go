package deploy

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/loader/archive"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"

	"github.com/nycmeshnet/cutoverbot"
)

// TargetClusterRBAC is target-cluster/rbac.yaml: the bot's ServiceAccount, Role and
// RoleBinding in each MeshDB cluster. The tests against real API servers apply it as is.
//
//go:embed target-cluster/rbac.yaml
var TargetClusterRBAC []byte

//go:embed all:helm/cutoverbot
var chartFS embed.FS

// RenderChart renders the chart under helm/ with Helm's own engine, as `helm install` would
// into namespace, with values over the chart's defaults. It returns every object as one
// multi-document YAML stream, in the order of the templates' names. The tests against real
// API servers apply what it renders.
func RenderChart(ctx context.Context, namespace string, values map[string]any) ([]byte, error) {
	var files []*archive.BufferedFile
	err := fs.WalkDir(chartFS, "helm/cutoverbot", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := chartFS.ReadFile(path)
		if err != nil {
			return err
		}
		files = append(files, &archive.BufferedFile{Name: strings.TrimPrefix(path, "helm/cutoverbot/"), Data: data})
		return nil
	})
	if err != nil {
		return nil, err
	}
	ch, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("load the chart: %w", err)
	}
	vals, err := util.ToRenderValues(ch, values, common.ReleaseOptions{Name: "cutoverbot", Namespace: namespace, Revision: 1, IsInstall: true}, common.DefaultCapabilities)
	if err != nil {
		return nil, err
	}
	out, err := engine.Engine{Strict: true}.RenderWithContext(ctx, ch, vals)
	if err != nil {
		return nil, fmt.Errorf("render the chart: %w", err)
	}
	names := make([]string, 0, len(out))
	for name := range out {
		if strings.HasSuffix(name, ".yaml") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var b bytes.Buffer
	for _, name := range names {
		b.WriteString("---\n# Source: " + name + "\n")
		b.WriteString(out[name])
		b.WriteString("\n")
	}
	return b.Bytes(), nil
}

// HAValues are the chart's values for two replicas whose state is in namespace: the
// shipped example configuration with state.backend kubernetes.
func HAValues(namespace string) (map[string]any, error) {
	const file = "  backend: file                 # file = embedded store under dir; kubernetes = shared, for HA\n"
	src := string(cutoverbot.ExampleConfig)
	if !strings.Contains(src, file) {
		return nil, fmt.Errorf("cutover.example.yaml no longer has the line %q", strings.TrimSpace(file))
	}
	cfg := strings.Replace(src, file, "  backend: kubernetes\n  namespace: "+namespace+"\n", 1)
	return map[string]any{"replicaCount": 2, "configuration": cfg}, nil
}

// OneReplicaValues are the chart's values for one replica with the example configuration.
func OneReplicaValues() map[string]any {
	return map[string]any{"configuration": string(cutoverbot.ExampleConfig)}
}
