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
	_, stderr, code := w.run("resume", "--not-before", "now")
	if code != 0 || srv.Count() != 5 {
		t.Fatalf("resume --not-before now: exit %d, %d sent; want 0 and 5:\n%s", code, srv.Count(), stderr)
	}
	if !strings.Contains(stderr, "5 waiting recipients are looked at again") {
		t.Errorf("stderr does not say the held rows were woken:\n%s", stderr)
	}
}

// TestWindowPostponedStays: a not-before given to resume is kept with the
// campaign, so the next bare resume (cron) does not undo a postponement,
// even with window keys in the config file.
func TestWindowPostponedStays(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 3)
	w.write("mailblast.yaml", "window: '00:00-23:59'\n")
	soon := time.Now().Add(3 * time.Second).UTC().Format(time.RFC3339)
	w.mustRun(75, "send", "list.csv", "--not-before", soon, "--retry-wait", "0s")
	later := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	w.mustRun(75, "resume", "--not-before", later, "--retry-wait", "0s")
	time.Sleep(4 * time.Second) // past the first not-before
	w.mustRun(75, "resume", "--retry-wait", "0s")
	if n := srv.Count(); n != 0 {
		t.Fatalf("a bare resume undid the postponement: %d sent", n)
	}
}

// TestQuotaRaisedFreesHeldRows: rows held for quota room go out at once
// when a resume raises the quota.
func TestQuotaRaisedFreesHeldRows(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 6)
	w.env = append(w.env, "MAILBLAST_SMTP_QUOTA=2/1h")
	w.mustRun(75, "send", "list.csv", "--retry-wait", "0s")
	if n := srv.Count(); n != 2 {
		t.Fatalf("%d sent under a quota of 2", n)
	}
	// With the quota used up, the next try is when there is room, not now.
	w.listOf("other.csv", 101, 3)
	if _, stderr, code := w.run("send", "other.csv", "--retry-wait", "0s"); code != 75 || strings.Contains(stderr, "the next is due now") {
		t.Errorf("a campaign started with the quota used up: exit %d, stderr:\n%s", code, stderr)
	}
	w.env = append(w.env, "MAILBLAST_SMTP_QUOTA=10/1h")
	w.mustRun(0, "resume", "--campaign", "list")
	if n := srv.Count(); n != 6 {
		t.Errorf("after the quota was raised to 10, %d sent of 6", n)
	}
}
