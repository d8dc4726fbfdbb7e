package sandbox

import (
	"fmt"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"

	"github.com/nycmeshnet/cutoverbot"
	"github.com/nycmeshnet/cutoverbot/ops/config"
)

// WriteConfig writes a configuration for the sandbox into dir/cutover.yaml: the shipped
// example, pointed at the simulated clusters (one kubeconfig, a context per cluster)
// and a state directory under dir. mutate may change anything before it is written.
// It returns the path and the loaded configuration.
func WriteConfig(dir string, clusters []*Cluster, mutate func(*config.Config)) (string, *config.Config, error) {
	base, problems := config.Parse(cutoverbot.ExampleConfig, config.Options{Getenv: func(string) string { return "" }})
	if len(problems.Criticals()) > 0 {
		return "", nil, fmt.Errorf("the shipped example configuration is invalid: %w", problems)
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := WriteKubeconfig(kubeconfig, clusters...); err != nil {
		return "", nil, err
	}
	base.State.Dir = filepath.Join(dir, "state")
	// The sandbox's pods share this machine's file system: the postgres pods' "data
	// volume" is a directory of the sandbox's.
	base.Database.PodBackupDir = filepath.Join(dir, "pod-volume", "cutoverbot-backups")
	base.HTTP.Listen = "127.0.0.1:0"
	named := map[string]config.Cluster{}
	for _, c := range clusters {
		cc, ok := base.Clusters[c.Name]
		if !ok {
			// A cluster the example does not name borrows prod1's shape.
			cc = base.Clusters["prod1"]
			cc.LBAddress = fmt.Sprintf("127.0.0.%d:443", len(named)+10)
			cc.LBHostname = "kubernetes-lb-" + c.Name + ".nycmesh.net"
			cc.GitHubEnvironment = c.Name
			cc.TFVars = "terraform/" + c.Name + ".tfvars"
		}
		cc.Kubeconfig = kubeconfig
		cc.Context = c.Name
		named[c.Name] = cc
	}
	base.Clusters = named
	if mutate != nil {
		mutate(base)
	}
	raw, err := yaml.Marshal(base)
	if err != nil {
		return "", nil, fmt.Errorf("write sandbox configuration: %w", err)
	}
	path := filepath.Join(dir, "cutover.yaml")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		return "", nil, err
	}
	cfg, _, err := config.Load(path, config.Options{Getenv: func(string) string { return "" }})
	if err != nil {
		return "", nil, fmt.Errorf("sandbox configuration does not load: %w", err)
	}
	return path, cfg, nil
}
