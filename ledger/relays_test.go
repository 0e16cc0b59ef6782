package ledger

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"
)

// TestStatsRelays: outcomes carried by two relays, over several group
// commits and two minutes, sum up per relay in SQL: sent at the first
// try (which the attempt log does not hold) included, throttling replies
// counted once each, the rate over the minutes the relay was busy.
func TestStatsRelays(t *testing.T) {
	s, c := newCampaign(t, 10) // rows 2..11
	ctx := context.Background()
	t0 := time.Date(2026, 11, 3, 14, 0, 10, 0, time.UTC)
	a, b := "alpha", "beta"
	apply(t, s, c.ID, t0,
		Outcome{Row: 2, State: Sent, Attempted: true, Attempt: 1, Code: 250, Relay: a},
		Outcome{Row: 3, State: Sent, Attempted: true, Attempt: 1, Code: 250, Relay: b},
		Outcome{Row: 4, State: Deferred, Attempted: true, Attempt: 1, Code: 421, Enhanced: "4.7.0", Relay: b, Throttles: 3,
			NextAttempt: t0.Add(time.Minute)},
		Outcome{Row: 5, State: Failed, Attempted: true, Attempt: 1, Code: 550, Enhanced: "5.1.1", Relay: a},
		Outcome{Row: 6, State: Pending}) // released: no relay, not counted
	apply(t, s, c.ID, t0.Add(20*time.Second),
		Outcome{Row: 7, State: Sent, Attempted: true, Attempt: 1, Code: 250, Relay: a},
		Outcome{Row: 8, State: Failed, Attempted: true, Attempt: 1, Code: 0, Relay: a})
	t1 := t0.Add(2 * time.Minute)
	apply(t, s, c.ID, t1,
		Outcome{Row: 4, State: Sent, Attempted: true, Attempt: 2, Code: 250, Relay: b, Throttles: 1})

	st, err := s.Stats(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []RelayStats{
		{Relay: a, Sent: 2, Bounced: 1, Failed: 1, First: t0, Last: t0.Add(20 * time.Second), Minutes: 1, PeakMinute: 4},
		{Relay: b, Sent: 2, Deferred: 1, Throttles: 4, First: t0, Last: t1, Minutes: 2, PeakMinute: 2},
	}
	if len(st.Relays) != len(want) {
		t.Fatalf("relays %+v, want %+v", st.Relays, want)
	}
	for i, w := range want {
		if g := st.Relays[i]; g != w {
			t.Errorf("relay %d: %+v, want %+v", i, g, w)
		}
	}
	if r := st.Relays[1].PerMinute(); r != 1.5 {
		t.Errorf("beta's rate %v a minute, want 1.5 (3 attempts in 2 busy minutes)", r)
	}
	at, err := s.Attempts(ctx, c.ID, 4)
	if err != nil || len(at) != 2 || at[0].Relay != b || at[1].Relay != b {
		t.Errorf("row 4's attempts %+v %v: want both by %s", at, err, b)
	}
}

func apply(t *testing.T, s *SQLite, id int64, at time.Time, outs ...Outcome) {
	t.Helper()
	if err := s.Apply(context.Background(), id, Batch{Outcomes: outs}, at); err != nil {
		t.Fatal(err)
	}
}

// TestOlderLedgerWithoutRelays: a ledger from before relays were recorded
// (attempt_log without its relay column, no relay_log) opens, gains both,
// and reports: its old attempts have no relay, new ones do.
func TestOlderLedgerWithoutRelays(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := Campaign{Name: "old", Settings: []byte("{}")}
	if err := s.CreateCampaign(ctx, &c); err != nil {
		t.Fatal(err)
	}
	im, _ := s.Import(ctx, c.ID)
	for row := 2; row <= 3; row++ {
		if err := im.Add(Recipient{Row: row, Email: "u@example.com"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := im.Commit(); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 3, 14, 0, 0, 0, time.UTC)
	apply(t, s, c.ID, t0, Outcome{Row: 2, State: Deferred, Attempted: true, Attempt: 1, Code: 451, NextAttempt: t0})
	s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`ALTER TABLE attempt_log DROP COLUMN relay`, `DROP TABLE relay_log`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s, err = Open(path)
	if err != nil {
		t.Fatalf("older ledger: %v", err)
	}
	defer s.Close()
	apply(t, s, c.ID, t0.Add(time.Minute), Outcome{Row: 3, State: Deferred, Attempted: true, Attempt: 1, Code: 421, Relay: "new", Throttles: 1, NextAttempt: t0})
	st, err := s.Stats(ctx, c.ID)
	if err != nil {
		t.Fatalf("stats of an older ledger: %v", err)
	}
	if len(st.Relays) != 1 || st.Relays[0].Relay != "new" || st.Relays[0].Deferred != 1 || st.Counts.Deferred != 2 {
		t.Errorf("relays %+v, counts %+v", st.Relays, st.Counts)
	}
	if at, err := s.Attempts(ctx, c.ID, 2); err != nil || len(at) != 1 || at[0].Relay != "" {
		t.Errorf("row 2's attempts %+v %v", at, err)
	}
}
