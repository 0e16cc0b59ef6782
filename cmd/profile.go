package cmd

import (
	"os"
	"runtime/pprof"
)

// startProfile writes a CPU profile to $MAILBLAST_CPUPROFILE when set: the
// benchmark's per-message cost breakdown comes from it.
func startProfile() (stop func()) {
	path := os.Getenv("MAILBLAST_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
