// Package buildinfo says which build of cutoverbot is running. The release build
// stamps the version, commit and date from git with -ldflags -X (see the Makefile and
// the Dockerfile); an unstamped build falls back to what the Go toolchain recorded.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set with -ldflags "-X github.com/nycmeshnet/cutoverbot/buildinfo.version=v0.2.0 ...".
var (
	version string
	commit  string
	date    string
)

// Info is one build's identity.
type Info struct {
	Version   string `json:"version"`    // a git tag (v0.2.0), or git describe's v0.2.0-3-gabc1234, or "dev"
	Commit    string `json:"commit"`     // the full git commit, or "unknown"
	Date      string `json:"date"`       // when it was built, RFC 3339 UTC, or "unknown"
	GoVersion string `json:"go_version"` // the toolchain that built it
}

// Read returns this binary's Info.
func Read() Info {
	return read(version, commit, date, debug.ReadBuildInfo)
}

func read(v, c, d string, bi func() (*debug.BuildInfo, bool)) Info {
	info := Info{Version: v, Commit: c, Date: d, GoVersion: runtime.Version()}
	if b, ok := bi(); ok {
		// `go install github.com/nycmeshnet/cutoverbot/cmd/cutoverbot@v0.2.0` records the
		// module version; a build in a checkout records "(devel)" and, with VCS
		// stamping on, the revision and its time.
		if info.Version == "" && b.Main.Version != "" && b.Main.Version != "(devel)" {
			info.Version = b.Main.Version
		}
		for _, s := range b.Settings {
			switch {
			case s.Key == "vcs.revision" && info.Commit == "":
				info.Commit = s.Value
			case s.Key == "vcs.time" && info.Date == "":
				info.Date = s.Value
			}
		}
	}
	if info.Version == "" {
		info.Version = "dev"
	}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	if info.Date == "" {
		info.Date = "unknown"
	}
	return info
}

// Short is the version and the commit's first 12 characters, as a run's footer shows it.
func (i Info) Short() string {
	c := i.Commit
	if len(c) > 12 {
		c = c[:12]
	}
	return fmt.Sprintf("cutoverbot %s (%s)", i.Version, c)
}

// String is the version line `cutoverbot version` prints.
func (i Info) String() string {
	return fmt.Sprintf("cutoverbot %s\ncommit:  %s\nbuilt:   %s\ngo:      %s\n", i.Version, i.Commit, i.Date, i.GoVersion)
}
