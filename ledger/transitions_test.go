package ledger

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestFinalIsFinal: an outcome for a row that is sent, failed or skipped is
// an error, never an overwrite, on both write paths (first-try sends in
// groups, and every other outcome), and the batch is not committed.
func TestFinalIsFinal(t *testing.T) {
	s, c := newCampaign(t, 4) // rows 2..5
	ctx := context.Background()
	now := time.Now()
	if err := s.Apply(ctx, c.ID, Batch{Claims: []Claim{{First: 2, Last: 5, DueAt: now}}, Outcomes: []Outcome{
		{Row: 2, State: Sent, Attempted: true, Attempt: 1, Text: "queued as A"},
		{Row: 3, State: Failed, Attempted: true, Attempt: 1, Code: 550},
		{Row: 4, State: Skipped, Text: "suppressed"},
		{Row: 5, State: Deferred, Attempted: true, Attempt: 1, NextAttempt: now.Add(time.Minute)},
	}}, now); err != nil {
		t.Fatal(err)
	}
	for _, o := range []Outcome{
		{Row: 2, State: Sent, Attempted: true, Attempt: 1, Text: "queued as B"}, // grouped first-try path
		{Row: 2, State: Deferred, Attempted: true, Attempt: 2, NextAttempt: now.Add(time.Hour)},
		{Row: 3, State: Sent, Attempted: true, Attempt: 2},
		{Row: 4, State: Pending},
		{Row: 99, State: Sent, Attempted: true, Attempt: 2}, // no such row
		{Row: 5, State: InFlight},                           // not an outcome
	} {
		batch := Batch{Outcomes: []Outcome{{Row: 5, State: Sent, Attempted: true, Attempt: 2}, o}}
		if err := s.Apply(ctx, c.ID, batch, now); !errors.Is(err, ErrIllegalTransition) {
			t.Errorf("row %d to %s: err %v, want ErrIllegalTransition", o.Row, o.State, err)
		}
	}
	got := rowStates(t, s, c.ID)
	if got[2].State != Sent || got[2].Text != "queued as A" || got[3].State != Failed || got[4].State != Skipped {
		t.Errorf("a final row was written over: %+v", got)
	}
	if got[5].State != Deferred {
		t.Errorf("row 5 is %s: a failed batch must commit nothing", got[5].State)
	}
	// The legal move still works.
	if err := s.Apply(ctx, c.ID, Batch{Outcomes: []Outcome{{Row: 5, State: Sent, Attempted: true, Attempt: 2}}}, now); err != nil {
		t.Fatal(err)
	}
}

// TestUnknownStateIsDamage: a state mailblast never writes (a flipped byte
// that quick_check, which reads pages and not meanings, lets through) makes
// Counts fail as damage instead of counting the rows as skipped, so status
// cannot call a campaign finished on its word.
func TestUnknownStateIsDamage(t *testing.T) {
	s, c := newCampaign(t, 3)
	if _, err := s.db.Exec(`UPDATE recipients SET state = 'xent' WHERE row = 3`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Counts(context.Background(), c.ID); !errors.Is(err, ErrDamaged) {
		t.Fatalf("Counts: %v, want ErrDamaged", err)
	}
}
