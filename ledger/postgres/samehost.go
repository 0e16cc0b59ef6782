package postgres

import (
	"os"
	"strconv"
	"strings"
)

// SameHostExited reports whether worker (host:pid:random, as DefaultWorker
// makes) ran on this host, under a pid no process has now: a process of
// this machine that died, whose wire journal, if it shared this state
// directory, is the one RecoverOnWire is given. Use it as
// Options.Succeeds only where host names are unique in the fleet and one
// state directory per host takes part in a campaign: otherwise another
// worker's rows on the wire might be taken for rows it never sent.
func SameHostExited(worker string) bool {
	parts := strings.Split(worker, ":")
	if len(parts) < 3 {
		return false
	}
	host := strings.Join(parts[:len(parts)-2], ":")
	pid, err := strconv.Atoi(parts[len(parts)-2])
	me, _ := os.Hostname()
	if err != nil || host != me || pid <= 0 || pid == os.Getpid() {
		return false
	}
	return !processExists(pid)
}
