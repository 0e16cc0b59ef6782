package ledger

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// emptyCampaign is a new ledger with one campaign "nov" and no rows.
func emptyCampaign(tb testing.TB) (*SQLite, Campaign) {
	tb.Helper()
	s, err := Open(filepath.Join(tb.TempDir(), "ledger.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	c := Campaign{Name: "nov", ListPath: "l.csv", Settings: []byte(`{"a":1}`)}
	if err := s.CreateCampaign(context.Background(), &c); err != nil {
		tb.Fatal(err)
	}
	return s, c
}

func newCampaign(t *testing.T, rows int) (*SQLite, Campaign) {
	t.Helper()
	s, c := emptyCampaign(t)
	ctx := context.Background()
	im, err := s.Import(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < rows; i++ {
		if err := im.Add(Recipient{Row: i + 2, Email: "u@example.com", Offset: int64(i * 10)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := im.Commit(); err != nil {
		t.Fatal(err)
	}
	c, err = s.Campaign(ctx, "nov")
	if err != nil || !c.Imported {
		t.Fatalf("campaign after import: %+v %v", c, err)
	}
	return s, c
}

func TestImportRollbackLeavesNothing(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "l.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	c := Campaign{Name: "x", Settings: []byte("{}")}
	s.CreateCampaign(ctx, &c)
	im, _ := s.Import(ctx, c.ID)
	im.Add(Recipient{Row: 2, Email: "a@b.c"})
	im.Rollback()
	n, _ := s.Counts(ctx, c.ID)
	got, _ := s.Campaign(ctx, "x")
	if n.Total != 0 || got.Imported {
		t.Fatalf("after rollback: counts %+v imported %v", n, got.Imported)
	}
}

func TestCampaignNotFound(t *testing.T) {
	s, _ := newCampaign(t, 1)
	if _, err := s.Campaign(context.Background(), "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err %v, want ErrNotFound", err)
	}
}

func TestClaimOutcomeAndAttempts(t *testing.T) {
	s, c := newCampaign(t, 3)
	ctx := context.Background()
	now := time.Now()
	err := s.Apply(ctx, c.ID, Batch{Claims: []Claim{{First: 2, Last: 4, DueAt: now}}}, now)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Counts(ctx, c.ID); n.InFlight != 3 {
		t.Fatalf("in flight %d, want 3", n.InFlight)
	}
	later := now.Add(time.Hour)
	err = s.Apply(ctx, c.ID, Batch{Outcomes: []Outcome{
		{Row: 2, State: Sent, Attempted: true, Code: 250},
		{Row: 3, State: Deferred, Attempted: true, Attempt: 1, MessageID: "m3@x", Code: 451, Enhanced: "4.7.1", Text: "greylisted", NextAttempt: later},
		{Row: 4, State: Failed, Attempted: true, Code: 550, Enhanced: "5.1.1", Text: "no such user"},
	}}, now)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := s.Counts(ctx, c.ID)
	if n != (Counts{Total: 3, Sent: 1, Deferred: 1, Failed: 1}) {
		t.Fatalf("counts %+v", n)
	}
	due, _ := s.Due(ctx, c.ID, now, 0, 10)
	if len(due) != 0 {
		t.Fatalf("due now: %+v, want none (row 3 waits an hour)", due)
	}
	due, _ = s.Due(ctx, c.ID, later, 0, 10)
	if len(due) != 1 || due[0].Row != 3 || due[0].Attempts != 1 || due[0].MessageID != "m3@x" || due[0].Enhanced != "4.7.1" {
		t.Fatalf("due later: %+v", due)
	}
	next, ok, _ := s.NextDue(ctx, c.ID)
	if !ok || next.UnixMilli() != later.UnixMilli() {
		t.Fatalf("next due %v %v, want %v", next, ok, later)
	}
	at, _ := s.Attempts(ctx, c.ID, 3)
	if len(at) != 1 || at[0].Code != 451 || at[0].Text != "greylisted" {
		t.Fatalf("attempts %+v", at)
	}
}

func TestDueOrderAndPaging(t *testing.T) {
	s, c := newCampaign(t, 10)
	ctx := context.Background()
	now := time.Now()
	s.Apply(ctx, c.ID, Batch{Outcomes: []Outcome{{Row: 5, State: Deferred, Attempted: true, NextAttempt: now.Add(-time.Second)}}}, now)
	var rows []int
	for cursor := 0; ; {
		due, err := s.Due(ctx, c.ID, now, cursor, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(due) == 0 {
			break
		}
		for _, r := range due {
			rows = append(rows, r.Row)
		}
		cursor = due[len(due)-1].Row
	}
	want := []int{2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	if len(rows) != len(want) {
		t.Fatalf("rows %v, want %v", rows, want)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Fatalf("rows %v, want %v", rows, want)
		}
	}
}

func TestRecoverInFlight(t *testing.T) {
	for _, tc := range []struct {
		policy InFlightPolicy
		want   State
	}{{Resend, Pending}, {Skip, Skipped}} {
		t.Run(string(tc.policy), func(t *testing.T) {
			s, c := newCampaign(t, 3)
			ctx := context.Background()
			s.Apply(ctx, c.ID, Batch{Claims: []Claim{{First: 2, Last: 3, DueAt: time.Now()}}}, time.Now())
			s.Apply(ctx, c.ID, Batch{Outcomes: []Outcome{{Row: 2, State: Sent, Attempted: true}}}, time.Now())
			n, err := s.RecoverInFlight(ctx, c.ID, tc.policy, time.Now())
			if err != nil || n != 1 {
				t.Fatalf("recovered %d, %v; want 1", n, err)
			}
			var got Recipient
			s.Recipients(ctx, c.ID, "", func(r Recipient) error {
				if r.Row == 3 {
					got = r
				}
				return nil
			})
			if got.State != tc.want || got.Recovered != 1 {
				t.Fatalf("row 3 after recovery: %+v", got)
			}
			if counts, _ := s.Counts(ctx, c.ID); counts.Recovered != 1 {
				t.Fatalf("counts.Recovered %d", counts.Recovered)
			}
		})
	}
}

func TestExpire(t *testing.T) {
	s, c := newCampaign(t, 2)
	ctx := context.Background()
	old := time.Now().Add(-10 * 24 * time.Hour)
	s.Apply(ctx, c.ID, Batch{Outcomes: []Outcome{{Row: 2, State: Deferred, Attempted: true, Text: "451 try later"}}}, old)
	s.Apply(ctx, c.ID, Batch{Outcomes: []Outcome{{Row: 3, State: Deferred, Attempted: true}}}, time.Now())
	n, err := s.Expire(ctx, c.ID, time.Now().Add(-5*24*time.Hour), time.Now())
	if err != nil || n != 1 {
		t.Fatalf("expired %d, %v", n, err)
	}
	counts, _ := s.Counts(ctx, c.ID)
	if counts.Failed != 1 || counts.Deferred != 1 {
		t.Fatalf("counts %+v", counts)
	}
}

// TestDurableAcrossReopen: what Apply committed is there after the file is
// closed and opened again, as after a crash and restart.
func TestDurableAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := Campaign{Name: "x", Settings: []byte("{}")}
	s.CreateCampaign(ctx, &c)
	im, _ := s.Import(ctx, c.ID)
	im.Add(Recipient{Row: 2, Email: "a@b.c"})
	im.Commit()
	s.Apply(ctx, c.ID, Batch{Outcomes: []Outcome{{Row: 2, State: Sent, Attempted: true, Code: 250}}}, time.Now())
	s.Close()
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	n, _ := s2.Counts(ctx, c.ID)
	if n.Sent != 1 {
		t.Fatalf("after reopen: %+v", n)
	}
}

func BenchmarkApplyBatch(b *testing.B) {
	s, c := emptyCampaign(b)
	ctx := context.Background()
	im, _ := s.Import(ctx, c.ID)
	for i := 0; i < 256; i++ {
		im.Add(Recipient{Row: i + 2, Email: "a@b.c"})
	}
	im.Commit()
	outs := make([]Outcome, 256)
	for i := range outs {
		outs[i] = Outcome{Row: i + 2, State: Sent, Attempted: true, Code: 250}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Apply(ctx, c.ID, Batch{Outcomes: outs}, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(256*b.N)/b.Elapsed().Seconds(), "outcomes/s")
}

func TestProgress(t *testing.T) {
	s, c := newCampaign(t, 5)
	ctx := context.Background()
	s.Apply(ctx, c.ID, Batch{Outcomes: []Outcome{{Row: 2, State: Sent, Attempted: true, Attempt: 1}, {Row: 3, State: Skipped}}}, time.Now())
	s.Apply(ctx, c.ID, Batch{Claims: []Claim{{First: 4, Last: 4, DueAt: time.Now()}}}, time.Now())
	total, waiting, err := s.Progress(ctx, c.ID)
	if err != nil || total != 5 || waiting != 3 {
		t.Fatalf("progress %d/%d %v, want total 5, waiting 3", total, waiting, err)
	}
}

// A new ledger's first campaign ID is random, from 2^20 to 2^28: the links
// of a ledger given up for a fresh state directory name no campaign of the
// new one, though the unsubscribe secret file stays the same.
func TestFirstCampaignIDIsRandom(t *testing.T) {
	ids := map[int64]bool{}
	for range 3 {
		s, err := Open(filepath.Join(t.TempDir(), "ledger.db"))
		if err != nil {
			t.Fatal(err)
		}
		c := Campaign{Name: "list", ListPath: "l.csv", Settings: []byte(`{}`)}
		if err := s.CreateCampaign(context.Background(), &c); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if c.ID < 1<<20 || c.ID >= 1<<28 {
			t.Errorf("first campaign ID %d, want 2^20 to 2^28", c.ID)
		}
		ids[c.ID] = true
	}
	if len(ids) < 2 {
		t.Errorf("three fresh ledgers all started at %v", ids)
	}
}
