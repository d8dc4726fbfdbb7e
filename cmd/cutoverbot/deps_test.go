package main

import (
	"os/exec"
	"path"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestProductionBinaryLinksNoFake reads what `go list -deps` says the binary links: the
// image must carry none of the local stand-ins for Slack, Kubernetes, GitHub, DNS,
// meshweb or PostgreSQL, nor the sandbox that assembles them (cmd/cutoverbot-sandbox).
func TestProductionBinaryLinksNoFake(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{.Name}}", ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var ours []string
	for _, l := range lines {
		importPath, name, ok := strings.Cut(l, " ")
		require.True(t, ok, "go list line %q", l)
		if !strings.HasPrefix(importPath, "github.com/nycmeshnet/cutoverbot") {
			continue
		}
		ours = append(ours, importPath)
		for _, part := range append(strings.Split(importPath, "/"), name) {
			assert.False(t, strings.HasSuffix(part, "fake"), "the binary links %s", importPath)
			assert.NotEqual(t, "pgserver", part, "the binary links %s", importPath)
			assert.NotEqual(t, "sandbox", part, "the binary links %s", importPath)
		}
	}
	// The list is the binary's: it holds the packages that serve runs with.
	for _, want := range []string{"server", "ops/engine", "ops/kube", "ops/pg", "bot/transport"} {
		assert.Contains(t, ours, path.Join("github.com/nycmeshnet/cutoverbot", want))
	}
}
