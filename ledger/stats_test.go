package ledger

import (
	"context"
	"testing"
	"time"
)

// TestStatsCountsMatchCounts: Stats's counts, summed beside the domains,
// are Counts's, rows held by a standing claim included; its histograms
// and minutes account for every attempt.
func TestStatsCountsMatchCounts(t *testing.T) {
	s, c := newCampaign(t, 10) // rows 2..11
	ctx := context.Background()
	t0 := time.Date(2026, 11, 3, 14, 0, 0, 0, time.UTC)
	s.Apply(ctx, c.ID, Batch{Claims: []Claim{{First: 2, Last: 7, DueAt: t0}}}, t0)
	s.Apply(ctx, c.ID, Batch{Outcomes: []Outcome{
		{Row: 2, State: Sent, Attempted: true, Attempt: 1, Code: 250, Enhanced: "2.0.0", Text: "queued as A"},
		{Row: 3, State: Deferred, Attempted: true, Attempt: 1, Code: 451, Enhanced: "4.7.1", Text: "greylisted",
			NextAttempt: t0.Add(5 * time.Minute)},
		{Row: 4, State: Failed, Attempted: true, Attempt: 1, Code: 550, Enhanced: "5.1.1", Text: "no such user"},
		{Row: 5, State: Failed, Attempted: true, Attempt: 1, Code: 550, Enhanced: "5.1.1", Text: "no such user"},
	}, Settled: true}, t0)
	t1 := t0.Add(6 * time.Minute)
	s.Apply(ctx, c.ID, Batch{Outcomes: []Outcome{
		{Row: 3, State: Sent, Attempted: true, Attempt: 2, Code: 250, Enhanced: "2.0.0", Text: "queued as B"},
	}}, t1)
	// A claim still standing: rows 8 and 9 are in flight.
	s.Apply(ctx, c.ID, Batch{Claims: []Claim{{First: 8, Last: 9, DueAt: t1}}}, t1)

	st, err := s.Stats(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := s.Counts(ctx, c.ID)
	if st.Counts != want {
		t.Errorf("Stats counts %+v, Counts %+v", st.Counts, want)
	}
	if st.Attempted != 4 || st.HardBounced != 2 || st.Attempts[1] != 3 || st.Attempts[2] != 1 {
		t.Errorf("attempted %d, hard bounced %d, attempts %v", st.Attempted, st.HardBounced, st.Attempts)
	}
	if st.Acceptance[0] != 1 || st.Acceptance[2] != 1 { // row 3: six minutes after its first try
		t.Errorf("acceptance %v", st.Acceptance)
	}
	total := 0
	for _, m := range st.Minutes {
		total += m.Count
	}
	if total != 5 || len(st.Domains) != 1 || st.Domains[0].Domain != "example.com" || st.Domains[0].Bounced != 2 {
		t.Errorf("%d attempts in Minutes, domains %+v", total, st.Domains)
	}
	r := st.Replies()
	if r[0].Code != 250 || r[0].Count != 2 || r[1].Code != 550 || r[1].Text != "no such user" || r[1].TextCount != 2 {
		t.Errorf("replies %+v", r)
	}
}
