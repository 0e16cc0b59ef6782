package progress

import (
	"strings"
	"testing"
	"time"

	"github.com/mailblast/mailblast/campaign"
	"github.com/mailblast/mailblast/ledger"
)

// TestSummaryLineInFlight: rows left in flight (a double Ctrl-C) are
// counted as status counts them, not folded into pending.
func TestSummaryLineInFlight(t *testing.T) {
	s := campaign.Summary{Campaign: "c", Counts: ledger.Counts{Total: 40, Pending: 32, InFlight: 4, Sent: 4}}
	line := summaryLine(s)
	if !strings.Contains(line, "32 pending, 4 in flight") {
		t.Errorf("summary %q", line)
	}
	s.Counts.InFlight, s.Counts.Pending = 0, 36
	if line := summaryLine(s); strings.Contains(line, "in flight") || !strings.Contains(line, "36 pending") {
		t.Errorf("summary %q", line)
	}
}

// TestBarCountsThisRun: a resumed campaign's bar counts the rows left, not
// the rows an earlier run finished in no time (which showed millions of
// msg/s and stalled the display).
func TestBarCountsThisRun(t *testing.T) {
	var b strings.Builder
	r := New(&b, Bar, time.Second)
	r.Start("news", 200, 47)
	r.Outcome(ledger.Sent, 48, "a@example.com", nil)
	r.Finish(campaign.Summary{Campaign: "news"})
	out := b.String()
	if !strings.Contains(out, "/153") || !strings.Contains(out, "47 of 200 done before") {
		t.Fatalf("bar does not count this run's 153 rows:\n%q", out)
	}
}
