package pgtest

import "syscall"

// sysProcAttr runs a command as cred (nil: as we are). The kernel sends
// the server SIGQUIT (immediate shutdown) if the test binary dies first.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
}
