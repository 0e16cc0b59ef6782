package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/mailblast/mailblast/ledger"
)

// quotaCountsAcrossCampaigns: SentSince and SentMinutes count the
// messages a relay accepted, by the minute of the Apply that recorded
// them, in every campaign; deferred and failed attempts, releases and
// other relays do not count; a since within a minute counts that minute.
func quotaCountsAcrossCampaigns(t *testing.T, s ledger.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	one, two := campaign(t, s, 10), campaign(t, s, 10)
	sent := func(row int, relay string) ledger.Outcome {
		return ledger.Outcome{Row: row, State: ledger.Sent, Attempted: true, Attempt: 1, Code: 250, Relay: relay}
	}
	apply(t, s, one, ledger.Batch{Claims: []ledger.Claim{{First: 2, Last: 11, DueAt: t0}}, Outcomes: []ledger.Outcome{
		sent(2, "a"), sent(3, "a"), sent(4, "b"), sent(5, "a"),
		{Row: 6, State: ledger.Deferred, Attempted: true, Attempt: 1, Code: 451, Relay: "a", NextAttempt: t0.Add(time.Hour)},
		{Row: 7, State: ledger.Failed, Attempted: true, Attempt: 1, Code: 550, Relay: "a"},
		{Row: 8, State: ledger.Pending, Relay: "a"},
	}}, t0.Add(20*time.Second))
	apply(t, s, two, ledger.Batch{Claims: []ledger.Claim{{First: 2, Last: 11, DueAt: t0}}, Outcomes: []ledger.Outcome{
		sent(2, "a"), sent(3, "a"), sent(4, "a"), sent(5, "a"),
	}}, t0.Add(10*time.Minute+10*time.Second))
	for _, c := range []struct {
		relay string
		since time.Time
		want  int
	}{
		{"a", t0.Add(-time.Hour), 7}, {"a", t0, 7}, {"a", t0.Add(30 * time.Second), 7},
		{"a", t0.Add(time.Minute), 4}, {"a", t0.Add(10*time.Minute + 50*time.Second), 4},
		{"a", t0.Add(11 * time.Minute), 0}, {"b", t0, 1}, {"c", t0, 0},
	} {
		n, err := s.SentSince(ctx, c.relay, c.since)
		if err != nil || n != c.want {
			t.Errorf("SentSince(%s, %s) = %d, %v; want %d", c.relay, c.since.Format(time.TimeOnly), n, err, c.want)
		}
	}
	got, err := s.SentMinutes(ctx, "a", t0)
	want := []ledger.SentMinute{{Minute: t0, Sent: 3}, {Minute: t0.Add(10 * time.Minute), Sent: 4}}
	if err != nil || !sameMinutes(got, want) {
		t.Errorf("SentMinutes(a) = %v, %v; want %v", got, err, want)
	}
	if got, err := s.SentMinutes(ctx, "a", t0.Add(time.Minute)); err != nil || !sameMinutes(got, want[1:]) {
		t.Errorf("SentMinutes(a, t0+1m) = %v, %v; want %v", got, err, want[1:])
	}
}

func sameMinutes(a, b []ledger.SentMinute) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Minute.Equal(b[i].Minute) || a[i].Sent != b[i].Sent {
			return false
		}
	}
	return true
}
