package ledger

import (
	"context"
	"testing"
	"time"
)

// TestStatsWithFeedback: reports after the 250 show in Stats' counts and
// leave the attempt figures alone: a row sent at its first try and bounced
// later still had one attempt, accepted at once.
func TestStatsWithFeedback(t *testing.T) {
	s, c := newCampaign(t, 4)
	ctx := context.Background()
	now := time.Now()
	var outs []Outcome
	for row := 2; row <= 5; row++ {
		outs = append(outs, Outcome{Row: row, State: Sent, Attempted: true, Attempt: 1, Code: 250})
	}
	if err := s.Apply(ctx, c.ID, Batch{Claims: []Claim{{First: 2, Last: 5, DueAt: now}}, Outcomes: outs, Settled: true}, now); err != nil {
		t.Fatal(err)
	}
	for _, f := range []Feedback{
		{Key: "b", Row: 2, State: Bounced, Code: 550, Status: "5.1.1"},
		{Key: "c", Row: 3, State: Complained},
		{Key: "u", Row: 4, State: Unsubscribed},
	} {
		f.CampaignID, f.At, f.Kind, f.Source = c.ID, now.Add(time.Hour), string(f.State), "test"
		if _, err := s.RecordFeedback(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	st, err := s.Stats(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	n := st.Counts
	if n.Sent != 1 || n.Bounced != 1 || n.Complained != 1 || n.Unsubscribed != 1 || n.Total != 4 || st.Feedback != 3 {
		t.Errorf("counts %+v, feedback %d", n, st.Feedback)
	}
	if st.LateHardBounced != 1 {
		t.Errorf("late hard bounces %d, want row 2's 5.1.1", st.LateHardBounced)
	}
	if st.Attempted != 4 || st.Attempts[1] != 4 || st.Acceptance[0] != 4 || st.HardBounced != 0 {
		t.Errorf("attempts %v, acceptance %v, attempted %d, hard bounced %d: the reports count as attempts",
			st.Attempts, st.Acceptance, st.Attempted, st.HardBounced)
	}
	sent := 0
	for _, m := range st.Minutes {
		if m.State != Sent {
			t.Errorf("a report in the attempts by minute: %+v", m)
		}
		sent += m.Count
	}
	if sent != 4 {
		t.Errorf("%d sends by minute, want 4", sent)
	}
}
