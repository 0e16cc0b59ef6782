package progress

import (
	"strings"
	"testing"

	"github.com/mailblast/mailblast/campaign"
	"github.com/mailblast/mailblast/ledger"
)

// TestSummaryLineInFlight: rows left in flight (a double Ctrl-C) are
// counted as status counts them, not folded into pending.
func TestSummaryLineInFlight(t *testing.T) {
	s := campaign.Summary{Campaign: "c", Counts: ledger.Counts{Total: 40, Pending: 32, InFlight: 4, Sent: 4}}
	line := SummaryLine(s)
	if !strings.Contains(line, "32 pending, 4 in flight") {
		t.Errorf("summary %q", line)
	}
	s.Counts.InFlight, s.Counts.Pending = 0, 36
	if line := SummaryLine(s); strings.Contains(line, "in flight") || !strings.Contains(line, "36 pending") {
		t.Errorf("summary %q", line)
	}
}
