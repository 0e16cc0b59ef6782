//go:build unix

package postgres

import (
	"errors"
	"syscall"
)

// processExists: signal 0 checks a pid without touching it; EPERM means
// it exists under another user.
func processExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
