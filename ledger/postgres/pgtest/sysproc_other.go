//go:build !linux

package pgtest

import "syscall"

// sysProcAttr runs a command as we are: only Linux tests run PostgreSQL as
// another user, and only Linux stops it when the test binary dies.
func sysProcAttr(*syscall.Credential) *syscall.SysProcAttr { return nil }
