package server

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSpoolSpaceReadsTheVolume(t *testing.T) {
	msg, _, err := spoolSpace(t.TempDir())
	require.NoError(t, err)
	assert.Regexp(t, `^\d+\.\d GiB free of \d+\.\d GiB on the volume of `, msg)

	// Not created yet: the volume it will be on answers.
	msg, _, err = spoolSpace(t.TempDir() + "/not/yet")
	require.NoError(t, err)
	assert.Contains(t, msg, "/not/yet")
}

func TestSpoolNearlyFull(t *testing.T) {
	const g = 1 << 30
	for _, tc := range []struct {
		free, total uint64
		want        bool
	}{
		{100 * g, 200 * g, false},
		{30 * g, 200 * g, true}, // 15%
		{3 * g, 10 * g, false},
		{1 * g, 4 * g, true}, // under 2 GiB
	} {
		assert.Equal(t, tc.want, nearlyFull(tc.free, tc.total), "%d of %d GiB free", tc.free/g, tc.total/g)
	}
}
