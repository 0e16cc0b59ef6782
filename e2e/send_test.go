package e2e

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailblast/mailblast/sender/sendertest"
)

// checkDelivered asserts every one of rows recipients reached srv at least
// once with its own subject and the Message-ID the ledger has, and returns
// how many got more than one copy.
func checkDelivered(t *testing.T, w *workspace, got map[string][]sendertest.Message, rows int) map[string]int {
	t.Helper()
	report := w.report()
	dups := map[string]int{}
	for i := 1; i <= rows; i++ {
		addr := fmt.Sprintf("user%d@example.com", i)
		msgs := got[addr]
		if len(msgs) == 0 {
			t.Errorf("%s: never delivered (ledger: %+v)", addr, report[addr])
			continue
		}
		r := report[addr]
		if r.State != "sent" {
			t.Errorf("%s: delivered but ledger says %q", addr, r.State)
		}
		for _, m := range msgs {
			if want := fmt.Sprintf("Hello Name%d #%d", i, i); m.Subject != want {
				t.Errorf("%s: subject %q, want %q", addr, m.Subject, want)
			}
			if m.MessageID != "<"+r.MessageID+">" {
				t.Errorf("%s: Message-ID %q, ledger has %q", addr, m.MessageID, r.MessageID)
			}
		}
		if len(msgs) > 1 {
			dups[addr] = len(msgs)
		}
	}
	if len(got) != rows {
		t.Errorf("server saw %d distinct recipients, list has %d", len(got), rows)
	}
	return dups
}

func TestSendThousandExactlyOnce(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 1000)
	_, stderr, code := w.run("send", "list.csv", "--connections", "5")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if dups := checkDelivered(t, w, srv.ByRecipient(), 1000); len(dups) > 0 {
		t.Errorf("duplicates: %v", dups)
	}
	if n := srv.Connections(); n > 5 {
		t.Errorf("%d connections, want at most 5", n)
	}
	for _, c := range srv.Commands() {
		if c == "RSET" {
			t.Fatalf("RSET sent between good messages")
		}
	}
	s := w.status()
	if s.Total != 1000 || s.Sent != 1000 || !s.Finished {
		t.Errorf("status %+v", s)
	}
	if !strings.Contains(stderr, "1000 sent") {
		t.Errorf("no summary line in stderr:\n%s", stderr)
	}
	// Sending again continues the finished campaign: nobody gets a second copy.
	w.mustRun(0, "send", "list.csv")
	if n := srv.Count(); n != 1000 {
		t.Errorf("second send delivered %d more messages", n-1000)
	}
}

func TestMaxMessagesPerConnection(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 100)
	w.env = append(w.env, "MAILBLAST_SMTP_MAX_MESSAGES_PER_CONNECTION=10")
	w.mustRun(0, "send", "list.csv", "--connections", "2")
	if m := srv.MaxMessagesOnOneConn(); m > 10 {
		t.Errorf("%d messages on one connection, limit 10", m)
	}
	if srv.Count() != 100 {
		t.Errorf("delivered %d of 100", srv.Count())
	}
}

// slowServer takes about a millisecond per message so that a run can be
// interrupted in the middle.
func slowServer(t *testing.T) *sendertest.Server {
	return sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{
		Data: func(rcpts []string, data []byte) *smtp.SMTPError { time.Sleep(time.Millisecond); return nil },
	}})
}

func TestInterruptThenResume(t *testing.T) {
	const rows = 3000
	srv := slowServer(t)
	w := forServer(t, srv, rows)
	code := w.signalWhen(syscall.SIGINT, func() bool { return srv.Count() >= 500 }, "send", "list.csv", "--connections", "4")
	if code != 130 {
		t.Fatalf("exit after SIGINT: %d, want 130", code)
	}
	mid := w.status()
	if mid.Inflight != 0 {
		t.Errorf("after a graceful stop %d rows are still in flight", mid.Inflight)
	}
	if mid.Sent != srv.Count() {
		t.Errorf("ledger says %d sent, server received %d", mid.Sent, srv.Count())
	}
	if mid.Finished || mid.Sent >= rows {
		t.Fatalf("the run finished before the interrupt: %+v", mid)
	}
	w.mustRun(0, "resume")
	if dups := checkDelivered(t, w, srv.ByRecipient(), rows); len(dups) > 0 {
		t.Errorf("SIGINT then resume sent duplicates: %v", dups)
	}
}

// TestKillNineRepeatedly kills the binary at random moments, resumes each
// time, and checks that nobody is missing and that every duplicate is a
// recipient the ledger reported as in flight at a kill.
func TestKillNineRepeatedly(t *testing.T) {
	const rows, kills = 5000, 5
	srv := slowServer(t)
	w := forServer(t, srv, rows)
	args := []string{"send", "list.csv", "--connections", "4"}
	seed := time.Now().UnixNano()
	rnd := rand.New(rand.NewPCG(uint64(seed), 0))
	t.Logf("kill points from seed %d", seed)
	for k := 0; k < kills; k++ {
		target := srv.Count() + 50 + rnd.IntN(500)
		code := w.signalWhen(syscall.SIGKILL, func() bool { return srv.Count() >= target }, args...)
		if code != -int(syscall.SIGKILL) {
			t.Fatalf("kill %d: the run ended by itself (exit %d) before the kill", k, code)
		}
		args = []string{"resume"}
	}
	w.mustRun(0, "resume")
	dups := checkDelivered(t, w, srv.ByRecipient(), rows)
	report := w.report()
	for addr, n := range dups {
		if report[addr].Recovered == 0 {
			t.Errorf("%s got %d copies but was never reported in flight", addr, n)
		}
	}
	s := w.status()
	if s.Recovered < len(dups) {
		t.Errorf("status reports %d recovered in-flight rows, %d recipients had duplicates", s.Recovered, len(dups))
	}
	t.Logf("%d kills: %d rows recovered in flight, %d duplicates", kills, s.Recovered, len(dups))
}
