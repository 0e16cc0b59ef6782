package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailblast/mailblast/sender/sendertest"
)

// TestPGCommandsShareOneLedger: on a shared ledger, feedback imported on
// one machine moves the row every machine sees, the suppression list is
// one per database, and report reads the same campaign from any machine.
func TestPGCommandsShareOneLedger(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{DSN: true})
	ws := pgFleet(t, srv, 2, 3)
	a, b := ws[0], ws[1]
	a.mustRun(0, "send", "list.csv")
	ids := map[string]string{}
	for _, m := range srv.Messages() {
		ids[m.To[0]] = strings.Trim(m.MessageID, "<>")
	}
	if len(ids) != 3 {
		t.Fatalf("relay got %d recipients, want 3", len(ids))
	}
	if err := os.WriteFile(filepath.Join(b.dir, "complaint.eml"), []byte(arf(ids["user2@example.com"])), 0o600); err != nil {
		t.Fatal(err)
	}
	if sum := b.importFeedback("complaint.eml"); sum.Complaints != 1 {
		t.Fatalf("feedback import on the second machine: %+v, want one complaint", sum)
	}
	wantState(t, a, feedbackStatus{Sent: 2, Complained: 1})
	b.mustRun(0, "suppress", "add", "user3@example.com")
	wantSuppressed(t, a, "user2@example.com", "user3@example.com")
	if out := a.mustRun(0, "report", "--format", "json", "--state", "complained"); !strings.Contains(out, "user2@example.com") {
		t.Errorf("report on the first machine misses the complaint:\n%s", out)
	}
	b.mustRun(0, "report", "--format", "html", "-o", "report.html")
	if page, err := os.ReadFile(filepath.Join(b.dir, "report.html")); err != nil || !strings.Contains(string(page), "<html") {
		t.Errorf("report --format html on the second machine: %v", err)
	}
}
