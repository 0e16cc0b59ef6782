package e2e

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/mailblast/mailblast/sender/sendertest"
)

// Found in review: the run after an interrupt whose grace ran out must
// know exactly which row was on the wire. These two tests pin that down
// with --in-flight skip, which makes a wrong answer visible: a row
// forgotten is sent again unmarked; a row wrongly counted is skipped.

// blockingRelay holds every message at DATA until the test ends; started
// reports that one is being held.
func blockingRelay(t *testing.T) (*sendertest.Server, func() bool) {
	var started atomic.Bool
	block := make(chan struct{})
	srv := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{Data: func([]string, []byte) *smtp.SMTPError {
		started.Store(true)
		<-block
		return nil
	}}})
	t.Cleanup(func() { close(block) })
	return srv, started.Load
}

// TestAbandonedRetryIsRecovered: three rows deferred by a first run; the
// retry run is interrupted while the first is on the wire and the grace
// runs out. The next run with --in-flight skip skips that row, marked
// recovered, and sends the two that were only queued.
func TestAbandonedRetryIsRecovered(t *testing.T) {
	a := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{Rcpt: func(string, int) *smtp.SMTPError {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "later"}
	}}})
	w := forServer(t, a, 3)
	w.env = append(w.env, "MAILBLAST_RETRY_SCHEDULE=10ms")
	w.mustRun(75, "send", "list.csv", "--connections", "1", "--retry-wait", "0s")

	b, started := blockingRelay(t)
	w.env = append(w.env, fmt.Sprintf("MAILBLAST_SMTP_PORT=%d", b.Port()), "MAILBLAST_GRACE=300ms")
	w.signalWhen(syscall.SIGINT, started, "send", "list.csv", "--connections", "1", "--retry-wait", "0s")

	c := sendertest.NewServer(t, sendertest.Options{})
	w.env = append(w.env, fmt.Sprintf("MAILBLAST_SMTP_PORT=%d", c.Port()))
	w.mustRun(0, "send", "list.csv", "--connections", "1", "--retry-wait", "0s", "--in-flight", "skip")
	if st := w.status(); c.Count() != 2 || st.Recovered != 1 || st.Skipped != 1 || st.Sent != 2 {
		t.Fatalf("relay got %d messages; status %+v: want 2 sent, the abandoned row skipped and recovered", c.Count(), st)
	}
}

// TestReleasedRowsAreNotInFlight: a fresh campaign interrupted while its
// first message is on the wire; the rows queued behind it are released
// and the grace runs out. Only that one row was ever attempted.
func TestReleasedRowsAreNotInFlight(t *testing.T) {
	b, started := blockingRelay(t)
	w := forServer(t, b, 20)
	w.env = append(w.env, "MAILBLAST_GRACE=300ms")
	w.signalWhen(syscall.SIGINT, started, "send", "list.csv", "--connections", "1", "--retry-wait", "0s")

	c := sendertest.NewServer(t, sendertest.Options{})
	w.env = append(w.env, fmt.Sprintf("MAILBLAST_SMTP_PORT=%d", c.Port()))
	w.mustRun(0, "send", "list.csv", "--connections", "1", "--retry-wait", "0s", "--in-flight", "skip")
	if st := w.status(); c.Count() != 19 || st.Recovered != 1 || st.Skipped != 1 {
		t.Fatalf("relay got %d messages; status %+v: want 19 sent, one row skipped as in flight", c.Count(), st)
	}
}
