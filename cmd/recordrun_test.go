package cmd

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailblast/mailblast/ledger"
)

// TestRecordRunFailureWarns: a run's end that cannot be written to the
// ledger (here a closed one) is a warning on stderr, not silence.
func TestRecordRunFailureWarns(t *testing.T) {
	store, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	store.Close()
	var got strings.Builder
	recordRun(context.Background(), &got, store, 1, ledger.Run{Started: time.Now(), Ended: time.Now()})
	if !strings.Contains(got.String(), "warning: how this run ended was not recorded") {
		t.Errorf("stderr = %q, want the warning", got.String())
	}
}
