package report_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// Failure kinds are named apart from report kinds and come back from the JSON stored
// in a run as they were.
func TestFailureKindsDecodeAndAreDistinct(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range report.Kinds() {
		seen[k] = true
	}
	for _, k := range report.FailureKinds() {
		assert.False(t, seen[k], "kind %s is named once", k)
		seen[k] = true
		f, err := report.Decode(k, nil)
		require.NoError(t, err, k)
		assert.Equal(t, k, f.ReportKind())
	}
	c := report.BackupNotFound{Cluster: "prod1", SHA256: "s", Path: "/p", Replica: "r", PodPath: "/q", SpoolGot: "g", PodErr: "e"}
	raw, err := json.Marshal(c)
	require.NoError(t, err)
	back, err := report.Decode(c.ReportKind(), raw)
	require.NoError(t, err)
	assert.Equal(t, c, back)
}

// A Failed error carries its facts and cause: errors.As and errors.Is see through it,
// to the cause and to the sentinel it stands for.
func TestFailedWrapsItsCause(t *testing.T) {
	cause := errors.New("connection refused")
	sentinel := errors.New("sha256 mismatch")
	err := fmt.Errorf("attempt 2: %w", report.Fail(report.NotRestored{Cluster: "prod1"}, &report.Failed{Facts: report.Checksum{Of: report.ChecksumCopy, Want: "w"}, Err: cause, Sentinel: sentinel}))
	var f *report.Failed
	require.ErrorAs(t, err, &f)
	assert.Equal(t, report.NotRestored{Cluster: "prod1"}, f.Facts)
	assert.ErrorIs(t, err, sentinel)
	assert.ErrorIs(t, err, cause)
	assert.NotErrorIs(t, report.Fail(report.NoBackup{}, nil), sentinel)
	assert.Equal(t, `failed_not_restored {"cluster":"prod1"} cause "failed_checksum {\"of\":\"copy\",\"want\":\"w\"} cause \"connection refused\""`, f.Error())
}
