package e2e

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailblast/mailblast/sender/sendertest"
)

// TestFaultsHeal runs the binary against relays that misbehave in each way
// the issue names and checks, recipient by recipient, that the ledger
// agrees with what the relay recorded: everyone delivered exactly once and
// recorded sent.
func TestFaultsHeal(t *testing.T) {
	var dataCalls atomic.Int64
	cases := map[string]func() sendertest.Options{
		"4xx on first two tries": func() sendertest.Options {
			return sendertest.Options{Faults: sendertest.Faults{Rcpt: func(addr string, attempt int) *smtp.SMTPError {
				if attempt <= 2 && len(addr)%3 == 0 {
					return &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 1}, Message: "rate limited"}
				}
				return nil
			}}}
		},
		"421 after 7 per connection": func() sendertest.Options {
			return sendertest.Options{Faults: sendertest.Faults{Reply421AfterN: 7}}
		},
		"454 after DATA every 9th": func() sendertest.Options {
			return sendertest.Options{Faults: sendertest.Faults{Data: func([]string, []byte) *smtp.SMTPError {
				if dataCalls.Add(1)%9 == 0 {
					return &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Throttling failure"}
				}
				return nil
			}}}
		},
		"dropped in DATA every 11th": func() sendertest.Options {
			return sendertest.Options{Faults: sendertest.Faults{DropInDataEvery: 11}}
		},
	}
	for name, opts := range cases {
		t.Run(name, func(t *testing.T) {
			const rows = 200
			srv := sendertest.NewServer(t, opts())
			w := forServer(t, srv, rows)
			w.env = append(w.env, "MAILBLAST_RETRY_SCHEDULE=200ms", "MAILBLAST_RETRY_WAIT=30s",
				"MAILBLAST_SMTP_THROTTLE_RECOVER=100ms") // pacing is tested in sender; here, healing
			w.mustRun(0, "send", "list.csv", "--connections", "3")
			assertLedgerMatchesServer(t, w, srv, rows)
		})
	}
}

func assertLedgerMatchesServer(t *testing.T, w *workspace, srv *sendertest.Server, rows int) {
	t.Helper()
	got := srv.ByRecipient()
	rep := w.report()
	for i := 1; i <= rows; i++ {
		addr := fmt.Sprintf("user%d@example.com", i)
		if n := len(got[addr]); n != 1 || rep[addr].State != "sent" {
			t.Errorf("%s: relay recorded %d copies, ledger says %q", addr, n, rep[addr].State)
		}
	}
}

// TestStalledRelay: a relay that stops answering mid-campaign costs
// timeouts, not a hang; nobody becomes failed and resume finishes the job
// once the relay behaves.
func TestStalledRelay(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{StallAfterN: 30}})
	w := forServer(t, srv, 60)
	// A message whose content went out before the stall is deferred (the
	// relay may have it), so its retry must fall due within the test.
	w.env = append(w.env, "MAILBLAST_SMTP_TIMEOUT=500ms", "MAILBLAST_SMTP_BACKOFF=20ms", "MAILBLAST_SMTP_CONNECT_ATTEMPTS=3",
		"MAILBLAST_RETRY_SCHEDULE=10ms")
	start := time.Now()
	_, stderr, code := w.run("send", "list.csv", "--connections", "2", "--retry-wait", "0s")
	if code != 69 && code != 75 {
		t.Fatalf("exit %d, want 69 or 75: %s", code, stderr)
	}
	if took := time.Since(start); took > 60*time.Second {
		t.Fatalf("a stalled relay held the run for %s", took)
	}
	st := w.status()
	if st.Failed != 0 || st.Sent != srv.Count() {
		t.Fatalf("status %+v, relay recorded %d", st, srv.Count())
	}
	// The same ledger against a healthy relay: resume delivers the rest.
	good := sendertest.NewServer(t, sendertest.Options{})
	w.env = append(w.env, fmt.Sprintf("MAILBLAST_SMTP_PORT=%d", good.Port()))
	mustResumeAgainst(t, w, good)
	if total := srv.Count() + good.Count(); total != 60 {
		t.Errorf("delivered %d in all, want 60", total)
	}
}

// mustResumeAgainst points the campaign's stored relay at srv by sending
// again with the new settings (send continues a known campaign).
func mustResumeAgainst(t *testing.T, w *workspace, srv *sendertest.Server) {
	t.Helper()
	w.env = append(w.env, "MAILBLAST_RETRY_SCHEDULE=10ms")
	w.mustRun(0, "send", "list.csv", "--connections", "2", "--retry-wait", "30s")
}

// TestRelayDownThenBack: a relay that is down at the start and comes back
// while the run backs off loses nobody.
func TestRelayDownThenBack(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	srv.SetDown(true)
	time.AfterFunc(1500*time.Millisecond, func() { srv.SetDown(false) })
	w := forServer(t, srv, 100)
	w.env = append(w.env, "MAILBLAST_SMTP_BACKOFF=100ms", "MAILBLAST_SMTP_CONNECT_ATTEMPTS=20", "MAILBLAST_RETRY_SCHEDULE=100ms")
	w.mustRun(0, "send", "list.csv", "--connections", "3")
	assertLedgerMatchesServer(t, w, srv, 100)
}
