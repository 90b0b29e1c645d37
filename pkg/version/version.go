// Package version tells which build of EventFlow is running.
package version

import (
	"runtime"
	"runtime/debug"
)

// Version is the release, set at link time:
//
//	go build -ldflags "-X github.com/eventflow/eventflow/pkg/version.Version=v1.2.3"
//
// `make build` passes $(VERSION).
var Version = "dev"

// Info is what GET /version answers.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"goVersion"`
}

// Get returns the running binary's version. Commit is the VCS revision the
// go command stamps when it builds inside a git checkout; it is empty
// otherwise (e.g. in container builds, which have no .git, and in tests).
func Get() Info {
	return Info{Version: Version, Commit: commit(), GoVersion: runtime.Version()}
}

func commit() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			return s.Value
		}
	}
	return ""
}
