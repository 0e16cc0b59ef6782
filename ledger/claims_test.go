package ledger

import (
	"context"
	"testing"
	"time"
)

func rowStates(t *testing.T, s *SQLite, id int64) map[int]Recipient {
	t.Helper()
	out := map[int]Recipient{}
	err := s.Recipients(context.Background(), id, "", func(r Recipient) error { out[r.Row] = r; return nil })
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func dueRows(t *testing.T, s *SQLite, id int64, now time.Time) []int {
	t.Helper()
	due, err := s.Due(context.Background(), id, now, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var rows []int
	for _, r := range due {
		rows = append(rows, r.Row)
	}
	return rows
}

// TestCrashInsideClaims is a run killed in the middle of its second chunk,
// with a deferred row from an earlier run in the first: what was claimed and
// has no outcome is recovered, and nothing else is.
func TestCrashInsideClaims(t *testing.T) {
	s, c := newCampaign(t, 8) // rows 2..9
	ctx := context.Background()
	t0 := time.Now().Add(-time.Hour)
	// An earlier run: row 3 deferred until t0 (due now), row 4 deferred
	// until tomorrow, row 5 sent.
	s.Apply(ctx, c.ID, Batch{Claims: []Claim{{First: 2, Last: 5, DueAt: t0}}}, t0)
	s.Apply(ctx, c.ID, Batch{Outcomes: []Outcome{
		{Row: 2, State: Pending, NextAttempt: t0.Add(time.Millisecond)}, // released: never attempted
		{Row: 3, State: Deferred, Attempted: true, Attempt: 1, NextAttempt: t0.Add(time.Minute)},
		{Row: 4, State: Deferred, Attempted: true, Attempt: 1, NextAttempt: t0.Add(24 * time.Hour)},
		{Row: 5, State: Sent, Attempted: true, Attempt: 1},
	}, Settled: true}, t0)
	now := time.Now()
	if got := dueRows(t, s, c.ID, now); len(got) != 6 || got[0] != 2 || got[1] != 3 || got[2] != 6 {
		t.Fatalf("due %v, want 2 3 6 7 8 9", got)
	}
	// This run: rows 2, 3, 6 claimed and 2, 6 sent; then rows 7, 8 claimed
	// and 7 sent; then the kill.
	s.Apply(ctx, c.ID, Batch{Claims: []Claim{{First: 2, Last: 6, DueAt: now}}}, now)
	s.Apply(ctx, c.ID, Batch{Claims: []Claim{{First: 7, Last: 8, DueAt: now}}, Outcomes: []Outcome{
		{Row: 2, State: Sent, Attempted: true, Attempt: 1},
		{Row: 6, State: Sent, Attempted: true, Attempt: 1},
	}}, now)
	s.Apply(ctx, c.ID, Batch{Outcomes: []Outcome{{Row: 7, State: Sent, Attempted: true, Attempt: 1}}}, now)
	n, _ := s.Counts(ctx, c.ID)
	if n.InFlight != 2 || n.Pending != 1 || n.Deferred != 1 || n.Sent != 4 || n.Total != 8 {
		t.Fatalf("counts while in flight %+v: want rows 3 and 8 in flight, 9 pending, 4 deferred", n)
	}
	var flying []int
	s.Recipients(ctx, c.ID, InFlight, func(r Recipient) error { flying = append(flying, r.Row); return nil })
	if len(flying) != 2 || flying[0] != 3 || flying[1] != 8 {
		t.Fatalf("in-flight rows %v, want 3 8", flying)
	}
	if _, waiting, _ := s.Progress(ctx, c.ID); waiting != 4 {
		t.Fatalf("waiting %d, want 4 (rows 3, 4, 8, 9)", waiting)
	}
	// The kill: the next run starts with RecoverInFlight.
	got, err := s.RecoverInFlight(ctx, c.ID, Resend, now)
	if err != nil || got != 2 {
		t.Fatalf("recovered %d %v, want 2", got, err)
	}
	rs := rowStates(t, s, c.ID)
	for row, want := range map[int]State{2: Sent, 3: Pending, 4: Deferred, 5: Sent, 6: Sent, 7: Sent, 8: Pending, 9: Pending} {
		if rs[row].State != want {
			t.Errorf("row %d: %s, want %s", row, rs[row].State, want)
		}
		if wantRec := row == 3 || row == 8; (rs[row].Recovered == 1) != wantRec {
			t.Errorf("row %d: recovered %d", row, rs[row].Recovered)
		}
	}
	if got := dueRows(t, s, c.ID, now); len(got) != 3 || got[0] != 3 || got[1] != 8 || got[2] != 9 {
		t.Fatalf("due after recovery %v, want 3 8 9", got)
	}
	if again, _ := s.RecoverInFlight(ctx, c.ID, Resend, now); again != 0 {
		t.Fatalf("a second recovery found %d", again)
	}
}

// TestSettledKeepsUnfinishedClaim: a pass that ends with a claimed row
// without an outcome (abandoned mid-transaction) leaves that claim for
// RecoverInFlight; finished claims go.
func TestSettledKeepsUnfinishedClaim(t *testing.T) {
	s, c := newCampaign(t, 4) // rows 2..5
	ctx := context.Background()
	now := time.Now()
	s.Apply(ctx, c.ID, Batch{Claims: []Claim{{First: 2, Last: 3, DueAt: now}, {First: 4, Last: 5, DueAt: now}}}, now)
	s.Apply(ctx, c.ID, Batch{Outcomes: []Outcome{
		{Row: 2, State: Sent, Attempted: true, Attempt: 1},
		{Row: 3, State: Pending, NextAttempt: now.Add(time.Millisecond)}, // released
		{Row: 4, State: Sent, Attempted: true, Attempt: 1},
	}, Settled: true}, now)
	var claims int
	s.db.QueryRow(`SELECT COUNT(*) FROM claims`).Scan(&claims)
	if claims != 1 {
		t.Fatalf("%d claims left, want 1 (rows 4-5)", claims)
	}
	if got := dueRows(t, s, c.ID, now.Add(time.Second)); len(got) != 1 || got[0] != 3 {
		t.Fatalf("due %v, want only the released row 3 (row 5 waits for recovery)", got)
	}
	if n, _ := s.RecoverInFlight(ctx, c.ID, Skip, now); n != 1 {
		t.Fatalf("recovered %d, want 1", n)
	}
	if rs := rowStates(t, s, c.ID); rs[5].State != Skipped || rs[3].State != Pending || rs[3].Recovered != 0 {
		t.Fatalf("rows 3 and 5 after recovery: %+v %+v", rs[3], rs[5])
	}
}

// TestAbandonedRetryStaysInFlight: a retry pass claims a deferred row that
// is due; its message is abandoned on the wire (a second interrupt: no
// outcome). Settling the pass keeps that claim, and the next run recovers
// the row under the policy.
func TestAbandonedRetryStaysInFlight(t *testing.T) {
	s, c := newCampaign(t, 2) // rows 2, 3
	ctx := context.Background()
	t0 := time.Now().Add(-time.Hour)
	s.Apply(ctx, c.ID, Batch{Claims: []Claim{{First: 2, Last: 3, DueAt: t0}}}, t0)
	s.Apply(ctx, c.ID, Batch{Outcomes: []Outcome{
		{Row: 2, State: Deferred, Attempted: true, Attempt: 1, NextAttempt: t0.Add(time.Minute)},
		{Row: 3, State: Sent, Attempted: true, Attempt: 1},
	}, Settled: true}, t0)
	now := time.Now()
	s.Apply(ctx, c.ID, Batch{Claims: []Claim{{First: 2, Last: 2, DueAt: now}}}, now)
	if err := s.Apply(ctx, c.ID, Batch{Settled: true}, now); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Counts(ctx, c.ID); n.InFlight != 1 {
		t.Fatalf("counts after the pass %+v, want row 2 in flight", n)
	}
	if n, _ := s.RecoverInFlight(ctx, c.ID, Skip, now); n != 1 {
		t.Fatalf("recovered %d, want 1", n)
	}
	if r, _ := s.Recipient(ctx, c.ID, 2); r.State != Skipped || r.Recovered != 1 {
		t.Fatalf("row 2 after recovery: %+v", r)
	}
}

// TestReleasedRowsNotInFlight: an interrupt releases the queued rows of a
// chunk (written back due just after the claim) while one message is still
// on the wire; then a kill. Only that message's row is recovered: the
// released rows were never tried, and --in-flight skip leaves them alone.
func TestReleasedRowsNotInFlight(t *testing.T) {
	s, c := newCampaign(t, 4) // rows 2..5
	ctx := context.Background()
	now := time.Now()
	s.Apply(ctx, c.ID, Batch{Claims: []Claim{{First: 2, Last: 5, DueAt: now}}}, now)
	s.Apply(ctx, c.ID, Batch{Outcomes: []Outcome{
		{Row: 2, State: Sent, Attempted: true, Attempt: 1},
		{Row: 3, State: Pending, NextAttempt: now.Add(time.Millisecond)},
		{Row: 5, State: Pending, NextAttempt: now.Add(time.Millisecond)},
	}}, now)
	if n, _ := s.RecoverInFlight(ctx, c.ID, Skip, now.Add(time.Minute)); n != 1 {
		t.Fatalf("recovered %d, want 1 (row 4)", n)
	}
	rs := rowStates(t, s, c.ID)
	if rs[4].State != Skipped || rs[3].State != Pending || rs[5].State != Pending || rs[3].Recovered+rs[5].Recovered != 0 {
		t.Fatalf("rows after recovery: 3 %+v, 4 %+v, 5 %+v", rs[3], rs[4], rs[5])
	}
}

// TestFirstTrySentHasNoLogRow: the common case writes no attempt_log row,
// and Attempts still shows the attempt.
func TestFirstTrySentHasNoLogRow(t *testing.T) {
	s, c := newCampaign(t, 2)
	ctx := context.Background()
	now := time.Now()
	s.Apply(ctx, c.ID, Batch{Outcomes: []Outcome{
		{Row: 2, State: Sent, Attempted: true, Attempt: 1, Code: 250, Text: "ok: queued as A1"},
		{Row: 3, State: Deferred, Attempted: true, Attempt: 1, Code: 451, Text: "later"},
	}}, now)
	s.Apply(ctx, c.ID, Batch{Outcomes: []Outcome{{Row: 3, State: Sent, Attempted: true, Attempt: 2, Code: 250, Text: "ok: queued as B2"}}}, now)
	var logged int
	s.db.QueryRow(`SELECT COUNT(*) FROM attempt_log`).Scan(&logged)
	if logged != 2 {
		t.Fatalf("%d log rows, want 2 (row 3's two attempts)", logged)
	}
	a2, _ := s.Attempts(ctx, c.ID, 2)
	a3, _ := s.Attempts(ctx, c.ID, 3)
	if len(a2) != 1 || a2[0].Text != "ok: queued as A1" || a2[0].State != Sent || len(a3) != 2 || a3[1].Text != "ok: queued as B2" {
		t.Fatalf("attempts: row 2 %+v, row 3 %+v", a2, a3)
	}
	if a, err := s.Attempts(ctx, c.ID, 99); err != nil || len(a) != 0 {
		t.Fatalf("attempts of a missing row: %+v %v", a, err)
	}
}

// TestLegacyInFlightRows: a ledger written before claims were ranges has
// rows marked inflight; they are recovered too.
func TestLegacyInFlightRows(t *testing.T) {
	s, c := newCampaign(t, 2)
	ctx := context.Background()
	s.db.Exec(`UPDATE recipients SET state = 'inflight' WHERE row = 2`)
	if n, _ := s.Counts(ctx, c.ID); n.InFlight != 1 || n.Pending != 1 {
		t.Fatalf("counts %+v", n)
	}
	if n, err := s.RecoverInFlight(ctx, c.ID, Resend, time.Now()); n != 1 || err != nil {
		t.Fatalf("recovered %d %v", n, err)
	}
	if got := dueRows(t, s, c.ID, time.Now()); len(got) != 2 {
		t.Fatalf("due %v, want 2 3", got)
	}
}

// TestImportInChunks: rows committed by Flush are there for Due before the
// import ends; a new Importer takes an interrupted import up after
// LastRow; a duplicate of a row in an earlier chunk is still found.
func TestImportInChunks(t *testing.T) {
	s, c := emptyCampaign(t)
	ctx := context.Background()
	add := func(im Importer, row int, key string) {
		if err := im.Add(Recipient{Row: row, Email: key, Key: key}); err != nil {
			t.Fatal(err)
		}
	}
	im, _ := s.Import(ctx, c.ID)
	add(im, 2, "a@x")
	add(im, 3, "b@x")
	if skipped, err := im.Flush(); err != nil || len(skipped) != 0 {
		t.Fatal(skipped, err)
	}
	add(im, 4, "c@x") // never flushed: the run stopped
	im.Rollback()
	if got := dueRows(t, s, c.ID, time.Now()); len(got) != 2 {
		t.Fatalf("due after the first chunk: %v, want 2 3", got)
	}
	s.Apply(ctx, c.ID, Batch{Outcomes: []Outcome{{Row: 2, State: Sent, Attempted: true, Attempt: 1}}}, time.Now())
	last, err := s.LastRow(ctx, c.ID)
	if err != nil || last != 3 {
		t.Fatalf("last row %d %v, want 3", last, err)
	}
	im, _ = s.Import(ctx, c.ID)
	add(im, 4, "c@x")
	add(im, 5, "a@x") // a duplicate of row 2, in an earlier chunk and sent
	add(im, 6, "d@x")
	if skipped, err := im.Flush(); err != nil || len(skipped) != 1 || skipped[0] != 5 {
		t.Fatalf("skipped %v %v, want row 5", skipped, err)
	}
	if err := im.Commit(); err != nil {
		t.Fatal(err)
	}
	rs := rowStates(t, s, c.ID)
	if rs[2].State != Sent || rs[5].State != Skipped || rs[5].Text != "duplicate of row 2" || rs[4].State != Pending {
		t.Fatalf("rows after the second import: %+v", rs)
	}
	if got, _ := s.Campaign(ctx, "nov"); !got.Imported {
		t.Fatal("campaign not marked imported")
	}
}
