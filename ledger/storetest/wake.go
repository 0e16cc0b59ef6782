package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/mailblast/mailblast/ledger"
)

// wakeBringsHeldRowsForward: rows released pending with a later next
// attempt (held for a window) become due at once after Wake; a deferred
// row keeps its retry time.
func wakeBringsHeldRowsForward(t *testing.T, s ledger.Store) {
	ctx := context.Background()
	id := campaign(t, s, 3)
	at := time.Now().Truncate(time.Millisecond)
	later := at.Add(5 * time.Hour)
	apply(t, s, id, ledger.Batch{Claims: []ledger.Claim{{First: 2, Last: 4, DueAt: at}}}, at)
	held := func(row int) ledger.Outcome {
		return ledger.Outcome{Row: row, State: ledger.Pending, NextAttempt: later}
	}
	deferred := ledger.Outcome{Row: 4, State: ledger.Deferred, Attempted: true, Attempt: 1, Code: 451, Text: "later", NextAttempt: later}
	apply(t, s, id, ledger.Batch{Outcomes: []ledger.Outcome{held(2), held(3), deferred}, Settled: true}, at.Add(time.Millisecond))
	now := at.Add(time.Second)
	if due, err := s.Due(ctx, id, now, 0, 10); err != nil || len(due) != 0 {
		t.Fatalf("before Wake, Due = %d rows (%v), want none", len(due), err)
	}
	n, err := s.Wake(ctx, id, now)
	if err != nil || n != 2 {
		t.Fatalf("Wake = %d, %v; want the 2 held rows", n, err)
	}
	due, err := s.Due(ctx, id, now, 0, 10)
	if err != nil || len(due) != 2 || due[0].Row != 2 || due[1].Row != 3 {
		t.Fatalf("after Wake, Due = %+v, %v; want rows 2 and 3, not the deferred 4", due, err)
	}
}

// settingsReplaced: SetSettings is what Campaign reads back.
func settingsReplaced(t *testing.T, s ledger.Store) {
	ctx := context.Background()
	id := campaign(t, s, 1)
	cs, err := s.Campaigns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var name string
	for _, c := range cs {
		if c.ID == id {
			name = c.Name
		}
	}
	if err := s.SetSettings(ctx, id, []byte(`{"window":{"not_before":"2027-01-01T09:00:00Z"}}`)); err != nil {
		t.Fatal(err)
	}
	c, err := s.Campaign(ctx, name)
	if err != nil || string(c.Settings) != `{"window":{"not_before":"2027-01-01T09:00:00Z"}}` {
		t.Errorf("Campaign after SetSettings: %s, %v", c.Settings, err)
	}
}
