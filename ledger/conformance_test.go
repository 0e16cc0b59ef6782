package ledger_test

import (
	"path/filepath"
	"testing"

	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/ledger/storetest"
)

// TestConformance runs the Store conformance suite against SQLite; the
// next backend runs the same suite unchanged.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) ledger.Store {
		s, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
