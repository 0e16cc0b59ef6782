package cmd

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mailblast/mailblast/ledger/postgres"
)

// TestFencedExit: a fenced write, however wrapped, exits 75 and says what
// to do, once.
func TestFencedExit(t *testing.T) {
	err := ledgerError(fmt.Errorf("campaign x: ledger write failed, stopping: %w", postgres.ErrFenced))
	if code := exitCode(err); code != exitTempFail {
		t.Errorf("exit %d, want %d", code, exitTempFail)
	}
	if n := strings.Count(err.Error(), "mailblast resume"); n != 1 {
		t.Errorf("the hint appears %d times:\n%v", n, err)
	}
	if again := ledgerError(err); again.Error() != err.Error() {
		t.Errorf("wrapped twice:\n%v", again)
	}
}

// TestDatabaseGoneExits74: the shared ledger's database going away is the
// ledger failing (74, with what to do), not an internal error (70).
func TestDatabaseGoneExits74(t *testing.T) {
	err := ledgerError(fmt.Errorf("ledger write failed, stopping: ledger: apply: %w: FATAL", postgres.ErrUnavailable))
	if code := exitCode(err); code != exitIOErr || !strings.Contains(err.Error(), "resume") {
		t.Errorf("exit %d, %v; want %d and what to do", code, err, exitIOErr)
	}
}
