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
