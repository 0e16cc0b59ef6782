package cmd

import (
	"os"
	"runtime/debug"
	"runtime/pprof"
)

// tuneGC collects garbage less often than Go's default. A send keeps
// little memory live (a chunk of rows, the messages in flight) but
// allocates for every message, and on a small machine every collection
// takes a core from the connections. At three times the live heap instead
// of two, the collector runs half as often; peak RSS for a million-row
// send stays near 50 MiB (BENCHMARKS.md, case 3). The soft limit keeps a
// large attachment from multiplying the footprint. GOGC and GOMEMLIMIT in
// the environment still decide.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(256 << 20)
	}
}

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
