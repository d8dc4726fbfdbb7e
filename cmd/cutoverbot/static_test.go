package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStaticBuild builds the binary as `make build-static` and the Dockerfile do, stamped
// with a version, and checks that it needs no dynamic loader (so it runs on a distroless
// or scratch base) and that `cutoverbot version` prints what was stamped.
func TestStaticBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "cutoverbot")
	const pkg = "github.com/nycmeshnet/cutoverbot/buildinfo"
	ldflags := "-s -w -X " + pkg + ".version=v9.8.7-test -X " + pkg + ".commit=0123456789abcdef0123456789abcdef01234567 -X " + pkg + ".date=2026-12-07T01:02:03Z"
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	f, err := elf.Open(bin)
	require.NoError(t, err)
	defer f.Close()
	for _, p := range f.Progs {
		assert.NotEqual(t, elf.PT_INTERP, p.Type, "a static binary has no interpreter")
		assert.NotEqual(t, elf.PT_DYNAMIC, p.Type, "and no dynamic section")
	}
	libs, _ := f.ImportedLibraries()
	assert.Empty(t, libs)

	out, err = exec.Command(bin, "version").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Regexp(t, `^cutoverbot v9\.8\.7-test\ncommit:  0123456789abcdef0123456789abcdef01234567\nbuilt:   2026-12-07T01:02:03Z\ngo:      go1\.`, string(out))
}
