package buildinfo

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRead(t *testing.T) {
	checkout := func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-12-01T02:00:00Z"}}}, true
	}
	installed := func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{Main: debug.Module{Version: "v0.3.1"}}, true
	}
	none := func() (*debug.BuildInfo, bool) { return nil, false }
	cases := []struct {
		name          string
		v, c, d       string
		bi            func() (*debug.BuildInfo, bool)
		wantV, wantC  string
		wantD, wantSh string
	}{
		{"stamped wins over the toolchain", "v0.2.0", "feedc0ffee00112233", "2026-12-07T00:00:00Z", checkout,
			"v0.2.0", "feedc0ffee00112233", "2026-12-07T00:00:00Z", "cutoverbot v0.2.0 (feedc0ffee00)"},
		{"a checkout build without stamping", "", "", "", checkout,
			"dev", "0123456789abcdef0123", "2026-12-01T02:00:00Z", "cutoverbot dev (0123456789ab)"},
		{"go install at a tag", "", "", "", installed, "v0.3.1", "unknown", "unknown", "cutoverbot v0.3.1 (unknown)"},
		{"nothing recorded", "", "", "", none, "dev", "unknown", "unknown", "cutoverbot dev (unknown)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			i := read(tc.v, tc.c, tc.d, tc.bi)
			assert.Equal(t, tc.wantV, i.Version)
			assert.Equal(t, tc.wantC, i.Commit)
			assert.Equal(t, tc.wantD, i.Date)
			assert.Equal(t, tc.wantSh, i.Short())
			assert.NotEmpty(t, i.GoVersion)
			assert.Contains(t, i.String(), "commit:  "+tc.wantC)
		})
	}
}
