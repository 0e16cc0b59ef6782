package cmd

import (
	"context"
	"io"
	"os"
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
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	recordRun(context.Background(), store, 1, ledger.Run{Started: time.Now(), Ended: time.Now()})
	os.Stderr = saved
	w.Close()
	got, _ := io.ReadAll(r)
	if !strings.Contains(string(got), "warning: how this run ended was not recorded") {
		t.Errorf("stderr = %q, want the warning", got)
	}
}
