package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/mailblast/mailblast/sender/sendertest"
)

// TestWindowBroughtForward: rows held for a not-before an hour away are
// sent at once by a resume that moves the not-before to now; a bare
// resume before that keeps holding them.
func TestWindowBroughtForward(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 5)
	hour := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	w.mustRun(75, "send", "list.csv", "--not-before", hour, "--retry-wait", "0s")
	w.mustRun(75, "resume", "--retry-wait", "0s")
	if n := srv.Count(); n != 0 {
		t.Fatalf("%d sent before the window", n)
	}
	_, stderr, code := w.run("resume", "--not-before", time.Now().Add(-time.Minute).UTC().Format(time.RFC3339))
	if code != 0 || srv.Count() != 5 {
		t.Fatalf("resume --not-before now: exit %d, %d sent; want 0 and 5:\n%s", code, srv.Count(), stderr)
	}
	if !strings.Contains(stderr, "5 waiting recipients are looked at again") {
		t.Errorf("stderr does not say the held rows were woken:\n%s", stderr)
	}
}
