package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// TestDockerfile: every base is pinned by digest, the image carries the OCI labels, and
// the build stamps the package `cutoverbot version` reads.
func TestDockerfile(t *testing.T) {
	df := read(t, "../Dockerfile")
	froms := regexp.MustCompile(`(?m)^FROM\s+(?:--platform=\S+\s+)?(\S+)`).FindAllStringSubmatch(df, -1)
	require.Len(t, froms, 2, "a build stage and the runtime stage")
	for _, f := range froms {
		assert.Regexp(t, `^[a-z0-9./-]+:[\w.-]+@sha256:[0-9a-f]{64}$`, f[1], "a tag for people, a digest for the machine")
	}
	assert.Contains(t, froms[1][1], "distroless/static", "no shell, no package manager at run time")
	for _, l := range []string{"source", "revision", "version", "created"} {
		assert.Contains(t, df, "org.opencontainers.image."+l+"=")
	}
	assert.Contains(t, df, `org.opencontainers.image.source="https://github.com/nycmeshnet/cutoverbot"`)
	for _, v := range []string{"version", "commit", "date"} {
		assert.Contains(t, df, "-X github.com/nycmeshnet/cutoverbot/buildinfo."+v+"=")
	}
	assert.Contains(t, df, "CGO_ENABLED=0")
	assert.Contains(t, df, "USER 65532:65532")
	assert.Contains(t, df, "./cmd/cutoverbot\n", "the production command, never the sandbox")
}

// TestDockerignore keeps git history and a maintainer's local secrets out of the build
// context, and everything the build needs in it.
func TestDockerignore(t *testing.T) {
	var patterns []string
	for _, l := range strings.Split(read(t, "../.dockerignore"), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, l)
		}
	}
	ignored := func(p string) bool {
		for _, pat := range patterns {
			if ok, _ := filepath.Match(pat, p); ok {
				return true
			}
			if ok, _ := filepath.Match(pat, filepath.Base(p)); ok && !strings.Contains(pat, "/") {
				return true
			}
		}
		return false
	}
	for _, p := range []string{".git", "bin", "cutover.yaml", "bot.kubeconfig", "kubeconfig", "prod1.token", ".env"} {
		assert.True(t, ignored(p), "%s stays out of the image", p)
	}
	// cutover.example.yaml is embedded in the binary (example.go).
	for _, p := range []string{"go.mod", "go.sum", "cutover.example.yaml", "example.go", "cmd", "ops", "server", "buildinfo"} {
		assert.False(t, ignored(p), "the build needs %s", p)
	}
}

// TestEveryManifestNamesTheImage: the chart, the release workflow and `make image` name
// one image, the one the release workflow pushes.
func TestEveryManifestNamesTheImage(t *testing.T) {
	var values struct {
		Image struct {
			Repository string `yaml:"repository"`
		} `yaml:"image"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(read(t, "helm/cutoverbot/values.yaml")), &values))
	assert.Equal(t, image, values.Image.Repository)

	var wf struct {
		On  map[string]any    `yaml:"on"`
		Env map[string]string `yaml:"env"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(read(t, "../.github/workflows/release.yml")), &wf))
	assert.Equal(t, image, wf.Env["IMAGE"])
	assert.Equal(t, map[string]any{"tags": []any{"v*"}}, wf.On["push"], "released on a version tag only")
	assert.Contains(t, read(t, "../.github/workflows/release.yml"), "platforms: linux/amd64,linux/arm64")

	assert.Regexp(t, `(?m)^IMAGE\s+\?=\s+`+regexp.QuoteMeta(image)+`$`, read(t, "../Makefile"))
}
