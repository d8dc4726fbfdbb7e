package kube_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/report"
	"github.com/nycmeshnet/cutoverbot/sandbox/realkube"
)

// TestMain closes the real control plane the contract tests share, if one was started.
func TestMain(m *testing.M) {
	code := m.Run()
	realkube.CloseShared()
	os.Exit(code)
}

// failure is the first failure of ours err carries: the transport words it from its
// facts, so tests hold the facts rather than text.
func failure(t *testing.T, err error) *report.Failed {
	t.Helper()
	var f *report.Failed
	require.ErrorAs(t, err, &f)
	return f
}
