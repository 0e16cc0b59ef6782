package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailblast/mailblast/sender/sendertest"
)

// TestSeeds: every run that sends gives each seed a copy at its start and
// its end; the copies are in the seed log, not in the campaign's figures;
// a seed the relay refuses is recorded and stops nothing; a run with
// nothing to send sends no copies.
func TestSeeds(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{
		Rcpt: func(addr string, _ int) *smtp.SMTPError {
			if addr == "gone@monitor.example" {
				return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such seed"}
			}
			return nil
		},
	}})
	w := forServer(t, srv, 3)
	w.write("mailblast.yaml", "seeds:\n  - seed1@monitor.example\n  - gone@monitor.example\n  - quiet@monitor.example\n"+
		"seed_fields: {first_name: Seedy}\nunsubscribe: {url: 'https://acme.example/u?n={{.n}}'}\n")
	w.mustRun(0, "suppress", "add", "quiet@monitor.example")
	w.mustRun(0, "send", "list.csv")

	var seeds, rows int
	for _, m := range srv.Messages() {
		switch {
		case slices.Equal(m.To, []string{"seed1@monitor.example"}):
			seeds++
			// The seeds' own row: seed_fields' value, else [column], and
			// the seed's address; nothing of a recipient's, no link to one.
			d := string(m.Data)
			if !strings.Contains(d, "Hello Seedy #[n]") || !strings.Contains(d, "To: <seed1@monitor.example>") ||
				!strings.Contains(d, "u?n=[n]>") || strings.Contains(d, "user1") || strings.Contains(d, "Name1") {
				t.Errorf("a seed's copy is not the seeds' own row's message:\n%s", d)
			}
		case strings.HasPrefix(m.To[0], "user"):
			rows++
		default:
			t.Errorf("relay got a message for %v", m.To)
		}
	}
	if seeds != 2 || rows != 3 {
		t.Fatalf("relay got %d seed copies and %d row messages, want 2 and 3", seeds, rows)
	}
	out := w.mustRun(0, "status")
	if !strings.Contains(out, "total 3,") || !strings.Contains(out, "sent 3,") {
		t.Errorf("seeds counted in the campaign: %s", out)
	}
	if !strings.Contains(out, "seeds: 4 copies, 2 not accepted") {
		t.Errorf("status does not show the seed log: %s", out)
	}

	// Nothing left to send: resume sends no seed copies.
	w.mustRun(0, "resume")
	if n := len(srv.Messages()); n != 5 {
		t.Errorf("a resume with nothing due sent seed copies: relay has %d messages, want 5", n)
	}
}

// TestSeedsRefusedInConfig: a seed that is no address is a configuration
// error naming it.
func TestSeedsRefusedInConfig(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 1)
	w.write("mailblast.yaml", "seeds: [ok@monitor.example, not-an-address]\n")
	_, errs, code := w.run("send", "list.csv")
	if code != 78 || !strings.Contains(errs, "seeds[1]") {
		t.Errorf("exit %d, stderr %q; want 78 naming seeds[1]", code, errs)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("relay got %d messages", n)
	}
}

// TestSeedsWaitForTheFirstSend: a run whose rows all wait (here for
// not_before) sends the seeds nothing; the run that sends them does.
func TestSeedsWaitForTheFirstSend(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 2)
	w.write("mailblast.yaml", "seeds: [seed1@monitor.example]\n")
	notBefore := time.Now().Add(4 * time.Second).Truncate(time.Second).Add(time.Second)
	w.mustRun(75, "send", "list.csv", "--not-before", notBefore.UTC().Format(time.RFC3339), "--retry-wait", "0s")
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("a run that sent nothing sent %d messages (seed copies?)", n)
	}
	time.Sleep(time.Until(notBefore) + 100*time.Millisecond)
	w.mustRun(0, "resume")
	if n := len(srv.Messages()); n != 4 {
		t.Errorf("relay got %d messages, want 2 rows and 2 seed copies", n)
	}
}
