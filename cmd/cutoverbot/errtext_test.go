package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/kube"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// A cluster that cannot be connected to stops the startup with a failure as data
// (report.Connect), and the binary prints it in words, as kube.Connect once wrote it.
func TestStartupErrorsAreWorded(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "kubeconfig")
	_, err := kube.Connect(kube.Options{Name: "prod1", Kubeconfig: missing, Context: "nycmesh-sn10"})
	var f *report.Failed
	require.True(t, errors.As(err, &f), "%v", err)
	assert.Equal(t, report.Connect{Cluster: "prod1", How: report.ConnectKubeconfig, Kubeconfig: missing, Context: "nycmesh-sn10"}, f.Facts)
	require.Error(t, f.Err, "the loader's own error is the cause")
	assert.Equal(t, fmt.Sprintf("cluster prod1: load kubeconfig %s context %q: %v", missing, "nycmesh-sn10", f.Err), errorText(err))
	assert.Equal(t, fmt.Sprintf("state.backend kubernetes: cluster prod1: load kubeconfig %s context %q: %v", missing, "nycmesh-sn10", f.Err),
		errorText(fmt.Errorf("state.backend kubernetes: %w", err)))
}
