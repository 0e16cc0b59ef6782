package e2e

import (
	"syscall"
	"testing"

	"github.com/mailblast/mailblast/sender/sendertest"
)

// TestInFlightMeansOnTheWire is the case a new user met: 200 rows at 20/s,
// kill -9 after a couple of seconds, then resume --in-flight skip. Rows
// claimed ahead but never handed to a connection were counted in flight
// and skipped, so they never got mail. Now at most the messages on the
// wire (one per connection when paced) count, and every other row is sent.
func TestInFlightMeansOnTheWire(t *testing.T) {
	const rows, conns = 200, 2
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, rows)
	code := w.signalWhen(syscall.SIGKILL, func() bool { return srv.Count() >= 40 },
		"send", "list.csv", "--rate", "20/s", "--connections", "2")
	if code != -int(syscall.SIGKILL) {
		t.Fatalf("send: exit %d, want killed", code)
	}
	// Before any run settles it, status already counts in flight only what
	// was on the wire: messages the relay took whose outcome the killed
	// run had not committed yet (a loaded machine delays the commit), and
	// at most one per connection besides. The rest of the claims are pending.
	received := srv.Count()
	st := w.status()
	if unrecorded := received - st.Sent; st.Inflight > unrecorded+conns || st.Sent+st.Pending+st.Inflight != rows {
		t.Fatalf("status after kill -9: %+v, relay took %d: at most %d on the wire beyond those, the rest pending", st, received, conns)
	}
	w.mustRun(0, "resume", "--in-flight", "skip")
	st = w.status()
	got := srv.ByRecipient()
	lost := 0 // skipped as in flight, and the relay never had them
	for email, r := range w.report() {
		if r.State == "skipped" && len(got[email]) == 0 {
			lost++
		}
		switch {
		case r.State == "sent" && len(got[email]) == 0:
			t.Errorf("%s recorded sent, never received", email)
		case r.State == "skipped" && r.Recovered == 0:
			t.Errorf("%s skipped but never in flight", email)
		case r.State != "sent" && r.State != "skipped":
			t.Errorf("%s left %s", email, r.State)
		}
	}
	if lost > conns {
		t.Errorf("%d rows skipped that the relay never had: at most %d messages were on the wire", lost, conns)
	}
	if st.Sent+st.Skipped != rows {
		t.Fatalf("status %+v: want all %d rows final", st, rows)
	}
}
