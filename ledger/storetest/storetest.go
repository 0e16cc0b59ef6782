// Package storetest is the conformance suite of ledger.Store: the claim
// rules, the lifecycle's transitions, recovery after a crash and writers
// working at once. Every backend runs it unchanged:
//
//	func TestConformance(t *testing.T) { storetest.Run(t, openMyStore) }
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mailblast/mailblast/ledger"
)

// Open gives a fresh, empty Store for one test; the suite closes it.
type Open func(t *testing.T) ledger.Store

// Run runs every conformance test against stores from open.
func Run(t *testing.T, open Open) {
	for name, test := range map[string]func(*testing.T, ledger.Store){
		"ClaimedRowsAreInFlight":    claimedRowsAreInFlight,
		"ReleasedRowsWaitAgain":     releasedRowsWaitAgain,
		"FinalIsFinal":              finalIsFinal,
		"RecoverAfterCrash":         recoverAfterCrash,
		"RecoverOnlyWhatWasOnWire":  recoverOnlyWhatWasOnWire,
		"ConcurrentWritersLoseNone": concurrentWritersLoseNone,
	} {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { _ = s.Close() })
			test(t, s)
		})
	}
}

// campaign creates a campaign of rows 2..rows+1 and imports them.
func campaign(t *testing.T, s ledger.Store, rows int) int64 {
	t.Helper()
	ctx := context.Background()
	c := ledger.Campaign{Name: fmt.Sprintf("c%d", time.Now().UnixNano()), ListPath: "l.csv", Settings: []byte(`{}`)}
	if err := s.CreateCampaign(ctx, &c); err != nil {
		t.Fatal(err)
	}
	im, err := s.Import(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		r := ledger.Recipient{Row: i + 2, Email: fmt.Sprintf("u%d@example.com", i), Key: fmt.Sprintf("u%d@example.com", i), Offset: int64(i * 20)}
		if err := im.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := im.Commit(); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

func apply(t *testing.T, s ledger.Store, id int64, b ledger.Batch, at time.Time) {
	t.Helper()
	if err := s.Apply(context.Background(), id, b, at); err != nil {
		t.Fatal(err)
	}
}

func counts(t *testing.T, s ledger.Store, id int64) ledger.Counts {
	t.Helper()
	n, err := s.Counts(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func sent(row int) ledger.Outcome {
	return ledger.Outcome{Row: row, State: ledger.Sent, Attempted: true, Attempt: 1, Code: 250}
}

// A claim makes its waiting rows in flight until each has an outcome.
func claimedRowsAreInFlight(t *testing.T, s ledger.Store) {
	id := campaign(t, s, 10)
	now := time.Now()
	due, err := s.Due(context.Background(), id, now, 0, 4)
	if err != nil || len(due) != 4 || due[0].Row != 2 || due[3].Row != 5 {
		t.Fatalf("due %v %v, want rows 2-5 in order", due, err)
	}
	apply(t, s, id, ledger.Batch{Claims: []ledger.Claim{{First: 2, Last: 5, DueAt: now}}}, now)
	if n := counts(t, s, id); n.InFlight != 4 || n.Pending != 6 {
		t.Fatalf("after the claim: %+v, want 4 in flight, 6 pending", n)
	}
	apply(t, s, id, ledger.Batch{Outcomes: []ledger.Outcome{sent(2), sent(3)}}, now)
	if n := counts(t, s, id); n.InFlight != 2 || n.Sent != 2 {
		t.Fatalf("after two outcomes: %+v", n)
	}
	due, _ = s.Due(context.Background(), id, now, 5, 100)
	if len(due) != 6 || due[0].Row != 6 {
		t.Fatalf("due after the claim: %v, want rows 6-11", due)
	}
}

// A claimed row released unsent is waiting again, not in flight.
func releasedRowsWaitAgain(t *testing.T, s ledger.Store) {
	id := campaign(t, s, 3)
	now := time.Now()
	apply(t, s, id, ledger.Batch{Claims: []ledger.Claim{{First: 2, Last: 4, DueAt: now}}}, now)
	apply(t, s, id, ledger.Batch{Outcomes: []ledger.Outcome{
		{Row: 2, State: ledger.Pending}, sent(3), sent(4), // no NextAttempt: the store keeps it after the claim
	}, Settled: true}, now)
	if n := counts(t, s, id); n.InFlight != 0 || n.Pending != 1 || n.Sent != 2 {
		t.Fatalf("%+v: want the released row pending, none in flight", n)
	}
}

// Nothing moves a row out of sent, failed or skipped, and a batch with
// such a move commits nothing.
func finalIsFinal(t *testing.T, s ledger.Store) {
	id := campaign(t, s, 3)
	now := time.Now()
	apply(t, s, id, ledger.Batch{Claims: []ledger.Claim{{First: 2, Last: 4, DueAt: now}}, Outcomes: []ledger.Outcome{
		sent(2), {Row: 3, State: ledger.Failed, Attempted: true, Attempt: 1, Code: 550}, {Row: 4, State: ledger.Skipped},
	}}, now)
	for _, o := range []ledger.Outcome{sent(2), {Row: 3, State: ledger.Deferred, NextAttempt: now}, {Row: 4, State: ledger.Pending}} {
		err := s.Apply(context.Background(), id, ledger.Batch{Outcomes: []ledger.Outcome{o}}, now)
		if !errors.Is(err, ledger.ErrIllegalTransition) {
			t.Errorf("row %d to %s: %v, want ErrIllegalTransition", o.Row, o.State, err)
		}
	}
	if n := counts(t, s, id); n.Sent != 1 || n.Failed != 1 || n.Skipped != 1 {
		t.Fatalf("%+v: a final row changed", n)
	}
}

// After a crash, claimed rows without an outcome are in flight; resend
// makes them pending (and counts them), skip skips them, and nothing else
// is touched.
func recoverAfterCrash(t *testing.T, s ledger.Store) {
	for _, p := range []ledger.InFlightPolicy{ledger.Resend, ledger.Skip} {
		id := campaign(t, s, 6)
		now := time.Now()
		apply(t, s, id, ledger.Batch{Claims: []ledger.Claim{{First: 2, Last: 5, DueAt: now}}, Outcomes: []ledger.Outcome{sent(2)}}, now)
		n, err := s.RecoverInFlight(context.Background(), id, p, now)
		if err != nil || n != 3 {
			t.Fatalf("%s: recovered %d (%v), want rows 3-5", p, n, err)
		}
		c := counts(t, s, id)
		want := ledger.Counts{Total: 6, Sent: 1, Recovered: 3}
		if p == ledger.Resend {
			want.Pending = 5
		} else {
			want.Pending, want.Skipped = 2, 3
		}
		if c != want {
			t.Fatalf("%s: %+v, want %+v", p, c, want)
		}
		if again, _ := s.RecoverInFlight(context.Background(), id, p, now); again != 0 {
			t.Fatalf("%s: a second recovery found %d", p, again)
		}
	}
}

// Told which claimed rows were on the wire, recovery counts only those;
// the other claimed rows wait again and are due.
func recoverOnlyWhatWasOnWire(t *testing.T, s ledger.Store) {
	id := campaign(t, s, 8)
	now := time.Now()
	apply(t, s, id, ledger.Batch{Claims: []ledger.Claim{{First: 2, Last: 9, DueAt: now}}, Outcomes: []ledger.Outcome{sent(2)}}, now)
	n, err := s.RecoverOnWire(context.Background(), id, ledger.Skip, now, map[int]bool{2: true, 3: true, 4: true})
	if err != nil || n != 2 {
		t.Fatalf("recovered %d (%v), want rows 3 and 4", n, err)
	}
	due, _ := s.Due(context.Background(), id, now.Add(time.Second), 0, 100)
	if len(due) != 5 || due[0].Row != 5 {
		t.Fatalf("due %v: rows 5-9 were never on the wire and must be sent", due)
	}
}

// Writers applying batches at once lose nothing.
func concurrentWritersLoseNone(t *testing.T, s ledger.Store) {
	const rows, writers = 400, 8
	id := campaign(t, s, rows)
	now := time.Now()
	apply(t, s, id, ledger.Batch{Claims: []ledger.Claim{{First: 2, Last: rows + 1, DueAt: now}}}, now)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for row := 2 + w; row <= rows+1; row += writers {
				if err := s.Apply(context.Background(), id, ledger.Batch{Outcomes: []ledger.Outcome{sent(row)}}, now); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := counts(t, s, id); n.Sent != rows || n.InFlight != 0 {
		t.Fatalf("%+v: want all %d sent", n, rows)
	}
}
