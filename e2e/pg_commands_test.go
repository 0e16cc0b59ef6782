package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
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

// TestPGQuotaHoldsForTheFleet: two workers of one campaign on a shared
// ledger keep to one smtp.quota together: each reads the other's sends
// from the database as it goes.
func TestPGQuotaHoldsForTheFleet(t *testing.T) {
	slow := func([]string, []byte) *smtp.SMTPError { time.Sleep(20 * time.Millisecond); return nil }
	srv := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{Data: slow}})
	ws := pgFleet(t, srv, 2, 80)
	ps := make([]*worker, len(ws))
	for i, w := range ws {
		w.env = append(w.env, "MAILBLAST_SMTP_QUOTA=30/1h", "MAILBLAST_SMTP_CONNECTIONS=1")
		ps[i] = w.start("send", "list.csv", "--campaign", "news", "--retry-wait", "0s")
	}
	for i, p := range ps {
		if code := p.wait(t); code != 75 {
			t.Errorf("worker %d: exit %d, want 75 (rows wait for quota room)\n%s", i, code, p.err)
		}
	}
	if n := srv.Count(); n < 30 || n > 35 {
		t.Fatalf("the relay got %d messages from two workers under a quota of 30; want 30, or a few more for those on the wire", n)
	}
	if s := ws[0].status(); s.Failed != 0 || s.Sent != srv.Count() {
		t.Errorf("status %+v: want nobody failed and sent = what the relay got (%d)", s, srv.Count())
	}
}

// TestPGRefusedWorkerKeepsTheCampaign: a worker refused for another
// template, started at the same moment as the worker that creates the
// campaign, must not remove the campaign it found (nothing of its own was
// sent, but the other worker's sends are the campaign's records). Runs a
// few rounds: the race is the two starting together.
func TestPGRefusedWorkerKeepsTheCampaign(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	ws := pgFleet(t, srv, 2, 30)
	ws[1].write("message.tmpl", template+"P.S. another template\n")
	for round := range 4 {
		name := fmt.Sprintf("race%d", round)
		a := ws[0].start("send", "list.csv", "--campaign", name)
		b := ws[1].start("send", "list.csv", "--campaign", name)
		// Whichever creates the campaign sends it; the other is refused.
		codes := []int{a.wait(t), b.wait(t)}
		if codes[0]+codes[1] != 65 || codes[0]*codes[1] != 0 {
			t.Fatalf("round %d: exits %v, want one 0 and one 65\n%s\n%s", round, codes, a.err, b.err)
		}
		out := ws[0].mustRun(0, "status", "--campaign", name)
		if !strings.Contains(out, "sent 30,") {
			t.Fatalf("round %d: the campaign's records are gone after the refused worker ended: %s", round, out)
		}
		// Its last run is the one that sent it, not the refused worker's.
		if out := ws[0].mustRun(0, "campaigns", "--json"); strings.Contains(out, `"last_exit":65`) {
			t.Errorf("round %d: campaigns shows the refused worker's exit as the last run:\n%s", round, out)
		}
	}
}

// TestPGAbandonRefusedWhileWorkersSend: abandon and rm from another
// machine are refused (exit 73) while a worker sends the campaign; the
// lock file alone only guards one machine.
func TestPGAbandonRefusedWhileWorkersSend(t *testing.T) {
	srv := relay20ms(t)
	ws := pgFleet(t, srv, 2, 200)
	p := ws[0].start("send", "list.csv", "--campaign", "busy", "--connections", "1")
	deadline := time.Now().Add(30 * time.Second)
	for srv.Count() < 10 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for _, args := range [][]string{{"campaign", "abandon", "busy"}, {"campaign", "rm", "busy", "--yes"}} {
		if _, stderr, code := ws[1].run(args...); code != 73 || !strings.Contains(stderr, "workers are sending") {
			t.Errorf("%v while a worker sends: exit %d, want 73\n%s", args, code, stderr)
		}
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	p.wait(t)
}

// TestPGFleetFinishesTogether: workers of a campaign that is done exit 0,
// also those whose last look found rows another live worker was still
// sending (they exited 75, "not final yet", on a finished campaign).
func TestPGFleetFinishesTogether(t *testing.T) {
	srv := relay20ms(t)
	ws := pgFleet(t, srv, 3, 150)
	ps := make([]*worker, len(ws))
	for i, w := range ws {
		ps[i] = w.start("send", "list.csv", "--campaign", "together", "--connections", "2", "--retry-wait", "30s")
	}
	for i, p := range ps {
		if code := p.wait(t); code != 0 {
			t.Errorf("worker %d: exit %d on a campaign the fleet finished\n%s", i, code, p.err)
		}
	}
	if s := ws[0].status(); !s.Finished || s.Sent < 150 {
		t.Errorf("status %+v", s)
	}
}
