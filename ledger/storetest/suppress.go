package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/mailblast/mailblast/ledger"
)

// mailboxGoneIsHeardByRuns: a permanent failure saying the mailbox does
// not exist suppresses the address in the same write, and other
// campaigns running now hear of it as of a suppress add: the suppression
// generation moves and SuppressedSince names it.
func mailboxGoneIsHeardByRuns(t *testing.T, s ledger.Store) {
	ctx := context.Background()
	id := campaign(t, s, 2)
	gen0, err := s.SuppressionGen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Truncate(time.Millisecond)
	apply(t, s, id, ledger.Batch{Claims: []ledger.Claim{{First: 2, Last: 3, DueAt: at}}}, at)
	gone := ledger.Outcome{Row: 2, State: ledger.Failed, Attempted: true, Attempt: 1, Code: 550, Enhanced: "5.1.1", Text: "no such user"}
	apply(t, s, id, ledger.Batch{Outcomes: []ledger.Outcome{gone, sent(3)}}, at.Add(time.Millisecond))
	if _, ok, err := s.Suppressed(ctx, "u0@example.com"); err != nil || !ok {
		t.Fatalf("u0 not suppressed after 5.1.1 (err %v)", err)
	}
	gen1, err := s.SuppressionGen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if gen1 == gen0 {
		t.Errorf("SuppressionGen stayed %d: running campaigns would not hear of the 5.1.1", gen0)
	}
	since, err := s.SuppressedSince(ctx, at)
	if err != nil || since["u0@example.com"] == "" {
		t.Errorf("SuppressedSince = %v, %v; want u0@example.com", since, err)
	}
}
