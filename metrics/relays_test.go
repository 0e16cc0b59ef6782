package metrics

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailblast/mailblast/ledger"
)

// TestRelayOutcome: each relay gets its own series, a quiet relay a 0
// for its throttling replies, and counting an outcome once the relay has
// been seen allocates nothing.
func TestRelayOutcome(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.prom")
	f := New(path, time.Now())
	r := f.Reporter(nil).(*reporter)
	r.RelayOutcome("office", ledger.Sent, 0, 4)
	r.RelayOutcome("ses", ledger.Deferred, 3, 2)
	r.RelayOutcome("ses", ledger.Sent, 1, 1)
	// AllocsPerRun runs it once more to warm up: 102 sent in all.
	if n := testing.AllocsPerRun(100, func() { r.RelayOutcome("office", ledger.Sent, 0, 4) }); n != 0 {
		t.Errorf("%v allocations per outcome", n)
	}
	if err := f.Write(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	for _, want := range []string{`mailblast_throttle_events_total{relay="office"} 0`, `mailblast_throttle_events_total{relay="ses"} 4`,
		`mailblast_relay_connections{relay="office"} 4`, `mailblast_relay_connections{relay="ses"} 1`,
		`mailblast_relay_messages_total{relay="office",result="sent"} 102`, `mailblast_relay_messages_total{relay="ses",result="deferred"} 1`} {
		if !strings.Contains(string(b), want+"\n") {
			t.Errorf("file lacks %s:\n%s", want, b)
		}
	}
}
