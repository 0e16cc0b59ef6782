package e2e

import (
	"testing"
	"time"

	"github.com/mailblast/mailblast/sender/sendertest"
)

// TestSuppressDuringRun: 2,000 rows at 200/s; two seconds in, another shell
// suppresses row 1801's address. That row must be skipped, not sent: the
// README promises suppression "also when the address was suppressed after
// the campaign started".
func TestSuppressDuringRun(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 2000)
	c, _, errb := w.command("send", "list.csv", "--rate", "200/s")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for srv.Count() < 300 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	w.mustRun(0, "suppress", "add", "user1800@example.com", "--reason", "asked by phone")
	if err := c.Wait(); err != nil {
		t.Fatalf("send: %v\n%s", err, errb)
	}
	if got := srv.ByRecipient()["user1800@example.com"]; len(got) != 0 {
		t.Fatalf("user1800@example.com was mailed after being suppressed")
	}
	r := w.report()["user1800@example.com"]
	if r.State != "skipped" {
		t.Fatalf("row 1801: %+v, want skipped", r)
	}
	if n := len(srv.ByRecipient()); n != 1999 {
		t.Fatalf("relay got %d recipients, want 1999", n)
	}
}
