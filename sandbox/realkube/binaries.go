package realkube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// EnvEnable turns the real control plane on for tests: `make e2e-kube` sets it. Without it,
// the tests that need the binaries skip, so `make test` never builds them.
const EnvEnable = "CUTOVERBOT_E2E_KUBE"

// EnvBinDir names a directory already holding the binaries (the output of
// scripts/kube-binaries.sh); when empty the tests run that script, which builds on first
// use and otherwise finds its cache.
const EnvBinDir = "CUTOVERBOT_KUBE_DIR"

// Bins is where the control plane's programs are.
type Bins struct {
	Dir                                string // the versioned cache directory
	Etcd, APIServer, ControllerManager string
	Kwok                               string
	KwokStages                         string // kwok's kustomize/stage directory, copied from its module
}

func binsIn(dir string) (Bins, error) {
	b := Bins{
		Dir:               dir,
		Etcd:              filepath.Join(dir, "bin", "etcd"),
		APIServer:         filepath.Join(dir, "bin", "kube-apiserver"),
		ControllerManager: filepath.Join(dir, "bin", "kube-controller-manager"),
		Kwok:              filepath.Join(dir, "bin", "kwok"),
		KwokStages:        filepath.Join(dir, "kwok-stage"),
	}
	for _, p := range []string{b.Etcd, b.APIServer, b.ControllerManager, b.Kwok, b.KwokStages} {
		if _, err := os.Stat(p); err != nil {
			return Bins{}, fmt.Errorf("realkube: %s missing (run scripts/kube-binaries.sh): %w", p, err)
		}
	}
	return b, nil
}

var (
	findOnce sync.Once
	found    Bins
	findErr  error
)

// Require returns the binaries, or skips the test when EnvEnable is not set. The first call
// in a process may build them (minutes) through scripts/kube-binaries.sh.
func Require(t testing.TB) Bins {
	t.Helper()
	if os.Getenv(EnvEnable) == "" {
		t.Skipf("a real Kubernetes control plane is needed: run `make e2e-kube` (or set %s=1)", EnvEnable)
	}
	findOnce.Do(func() { found, findErr = Find(context.Background()) })
	if findErr != nil {
		t.Fatal(findErr)
	}
	return found
}

// Find returns the binaries from EnvBinDir, or runs scripts/kube-binaries.sh of this
// module (which builds what its cache lacks) and uses the directory it prints.
func Find(ctx context.Context) (Bins, error) {
	if dir := os.Getenv(EnvBinDir); dir != "" {
		return binsIn(dir)
	}
	root, err := moduleRoot()
	if err != nil {
		return Bins{}, err
	}
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "kube-binaries.sh"))
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return Bins{}, fmt.Errorf("realkube: scripts/kube-binaries.sh: %w\n%s", err, tailLines(errb.String(), 30))
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	return binsIn(lines[len(lines)-1])
}

// moduleRoot walks up from the working directory (a test's package directory) to go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "scripts", "kube-binaries.sh")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("realkube: scripts/kube-binaries.sh not found above the working directory")
		}
		dir = parent
	}
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
