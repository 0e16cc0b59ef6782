// Package storetest is the conformance suite of ledger.Store: the claim
// rules, the lifecycle's transitions (feedback's included), recovery after
// a crash, writers working at once, and the feedback log. Every backend runs it unchanged:
//
//	func TestConformance(t *testing.T) { storetest.Run(t, openMyStore) }
package storetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
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
		"FeedbackTransitions":       feedbackTransitions,
		"FeedbackIdempotent":        feedbackIdempotent,
		"FeedbackSoftLimit":         feedbackSoftLimit,
		"SentMessageFindsTheRow":    sentMessageFindsTheRow,
		"FeedbackBatch":             feedbackBatch,
		"CampaignIDsNeverReused":    campaignIDsNeverReused,
		"SeedsApartFromRows":        seedsApartFromRows,
		"MailboxGoneIsHeardByRuns":  mailboxGoneIsHeardByRuns,
		"WakeBringsHeldRowsForward": wakeBringsHeldRowsForward,
		"SettingsReplaced":          settingsReplaced,
		"QuotaAcrossCampaigns":      quotaCountsAcrossCampaigns,
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

// sentWithID is a first-try send recording its Message-ID.
func sentWithID(row int) ledger.Outcome {
	o := sent(row)
	o.MessageID = fmt.Sprintf("m%d@example.com", row)
	return o
}

func record(t *testing.T, s ledger.Store, f ledger.Feedback) ledger.FeedbackResult {
	t.Helper()
	res, err := s.RecordFeedback(context.Background(), f)
	if err != nil {
		t.Fatalf("%s row %d: %v", f.Key, f.Row, err)
	}
	return res
}

// Feedback moves a delivered row on (sent to bounced, complained,
// unsubscribed) and never back; a row never delivered cannot bounce.
func feedbackTransitions(t *testing.T, s ledger.Store) {
	id := campaign(t, s, 5)
	now := time.Now()
	apply(t, s, id, ledger.Batch{Claims: []ledger.Claim{{First: 2, Last: 6, DueAt: now}}, Outcomes: []ledger.Outcome{
		sentWithID(2), sentWithID(3), sentWithID(4), {Row: 5, State: ledger.Failed, Attempted: true, Attempt: 1, Code: 550},
		{Row: 6, State: ledger.Deferred, Attempted: true, Attempt: 1, Code: 450, NextAttempt: now.Add(time.Hour)},
	}, Settled: true}, now)
	fb := func(key string, row int, to ledger.State) ledger.Feedback {
		return ledger.Feedback{Key: key, At: now, Kind: string(to), Source: "test", CampaignID: id, Row: row, State: to}
	}
	for _, f := range []ledger.Feedback{fb("b2", 2, ledger.Bounced), fb("c3", 3, ledger.Complained), fb("b4", 4, ledger.Bounced),
		fb("c4", 4, ledger.Complained), fb("u4", 4, ledger.Unsubscribed)} {
		if res := record(t, s, f); !res.Moved {
			t.Errorf("%s: %+v, want the row moved", f.Key, res)
		}
	}
	// Never back: a bounce after the unsubscribe is recorded, the row stays.
	if res := record(t, s, fb("b4-late", 4, ledger.Bounced)); res.Moved || res.Duplicate {
		t.Errorf("a bounce after an unsubscribe: %+v, want recorded only", res)
	}
	for _, f := range []ledger.Feedback{fb("x5", 5, ledger.Bounced), fb("x6", 6, ledger.Complained), fb("x6u", 6, ledger.Unsubscribed),
		fb("x2", 2, ledger.Sent), fb("x99", 99, ledger.Bounced)} {
		_, err := s.RecordFeedback(context.Background(), f)
		if !errors.Is(err, ledger.ErrIllegalTransition) && !errors.Is(err, ledger.ErrNoRow) {
			t.Errorf("%s: %v, want ErrIllegalTransition", f.Key, err)
		}
	}
	want := ledger.Counts{Total: 5, Bounced: 1, Complained: 1, Unsubscribed: 1, Failed: 1, Deferred: 1}
	if n := counts(t, s, id); n != want {
		t.Errorf("counts %+v, want %+v", n, want)
	}
	// The history keeps the send and adds each report.
	at, err := s.Attempts(context.Background(), id, 4)
	if err != nil || len(at) != 5 || at[0].State != ledger.Sent || at[1].State != ledger.Bounced || at[4].State != ledger.Unsubscribed {
		t.Errorf("row 4's history: %+v (%v), want the send then four reports", at, err)
	}
}

// A Key recorded once is a Duplicate after; a report of the state a row
// has already is recorded, not an error; one suppression per address.
func feedbackIdempotent(t *testing.T, s ledger.Store) {
	id := campaign(t, s, 2)
	now := time.Now()
	apply(t, s, id, ledger.Batch{Claims: []ledger.Claim{{First: 2, Last: 3, DueAt: now}}, Outcomes: []ledger.Outcome{sentWithID(2), sentWithID(3)}, Settled: true}, now)
	f := ledger.Feedback{Key: "k1", At: now, Kind: "hard_bounce", Source: "dsn", CampaignID: id, Row: 2, State: ledger.Bounced,
		Status: "5.1.1", Suppress: ledger.SourceBounce, Reason: "5.1.1 gone"}
	if res := record(t, s, f); !res.Moved || !res.Suppressed {
		t.Fatalf("first: %+v", res)
	}
	gen, _ := s.SuppressionGen(context.Background())
	if res := record(t, s, f); !res.Duplicate || res.Moved || res.Suppressed {
		t.Fatalf("the same key again: %+v, want a duplicate", res)
	}
	f.Key = "k2"
	if res := record(t, s, f); res.Duplicate || res.Moved || res.Suppressed {
		t.Fatalf("the same state again: %+v, want recorded only", res)
	}
	if again, _ := s.SuppressionGen(context.Background()); again != gen {
		t.Errorf("the suppression generation moved without a new suppression")
	}
	if sup, ok, _ := s.Suppressed(context.Background(), "u0@example.com"); !ok || sup.Source != ledger.SourceBounce {
		t.Errorf("row 2's address: %+v %v, want suppressed as a bounce", sup, ok)
	}
	if at, _ := s.Attempts(context.Background(), id, 2); len(at) != 3 {
		t.Errorf("history %+v: want the send and two reports (not the duplicate)", at)
	}
}

// Soft bounces suppress at the limit within the window, not before, and
// not when spread beyond it.
func feedbackSoftLimit(t *testing.T, s ledger.Store) {
	now := time.Now()
	// Soft bounces count once per delivery: each of these is another
	// campaign's message to the same address (u0@example.com).
	soft := func(key string, at time.Time) ledger.FeedbackResult {
		id := campaign(t, s, 1)
		apply(t, s, id, ledger.Batch{Claims: []ledger.Claim{{First: 2, Last: 2, DueAt: now}}, Outcomes: []ledger.Outcome{sentWithID(2)}, Settled: true}, now)
		return record(t, s, ledger.Feedback{Key: key, At: at, Kind: "soft_bounce", Source: "dsn", CampaignID: id, Row: 2,
			State: ledger.Bounced, Soft: true, SoftLimit: 3, SoftSince: now.Add(-30 * 24 * time.Hour)})
	}
	soft("old", now.Add(-40*24*time.Hour)) // outside the window
	if res := soft("s1", now.Add(-time.Hour)); res.Suppressed {
		t.Fatal("suppressed at the second soft bounce, one of them outside the window")
	}
	if res := soft("s2", now); res.Suppressed {
		t.Fatal("suppressed at two soft bounces within the window")
	}
	if n, err := s.SoftBounces(context.Background(), "u0@example.com", now.Add(-30*24*time.Hour)); n != 2 || err != nil {
		t.Fatalf("SoftBounces %d %v, want 2", n, err)
	}
	if res := soft("s3", now); !res.Suppressed {
		t.Fatal("not suppressed at the third soft bounce within the window")
	}
}

// SentMessage finds a row by the Message-ID it was sent with, exactly.
func sentMessageFindsTheRow(t *testing.T, s ledger.Store) {
	id := campaign(t, s, 3)
	now := time.Now()
	apply(t, s, id, ledger.Batch{Claims: []ledger.Claim{{First: 2, Last: 4, DueAt: now}}, Outcomes: []ledger.Outcome{sentWithID(3)}}, now)
	ctx := context.Background()
	got, r, ok, err := s.SentMessage(ctx, 3, "m3@example.com")
	if err != nil || !ok || got != id || r.Row != 3 || r.Key != "u1@example.com" {
		t.Fatalf("SentMessage: %d %+v %v %v", got, r, ok, err)
	}
	for _, q := range []struct {
		row int
		id  string
	}{{3, "M3@example.com"}, {2, "m3@example.com"}, {3, ""}, {2, ""}, {9, "m9@example.com"}} {
		if _, _, ok, err := s.SentMessage(ctx, q.row, q.id); ok || err != nil {
			t.Errorf("SentMessage(%d, %q) found a row (%v)", q.row, q.id, err)
		}
	}
	k1, err := s.Secret(ctx, "verp")
	k2, err2 := s.Secret(ctx, "verp")
	if err != nil || err2 != nil || len(k1) != 32 || string(k1) != string(k2) {
		t.Fatalf("Secret: %x %v, then %x %v: want the same 32 bytes", k1, err, k2, err2)
	}
}

// RecordFeedbacks records a batch in one transaction, a later one seeing
// an earlier one; one about a row never delivered is refused alone.
func feedbackBatch(t *testing.T, s ledger.Store) {
	id := campaign(t, s, 3)
	now := time.Now()
	apply(t, s, id, ledger.Batch{Claims: []ledger.Claim{{First: 2, Last: 4, DueAt: now}}, Outcomes: []ledger.Outcome{sentWithID(2), sentWithID(3)}}, now)
	fb := func(key string, row int, to ledger.State) ledger.Feedback {
		return ledger.Feedback{Key: key, At: now, Kind: string(to), Source: "test", CampaignID: id, Row: row, State: to}
	}
	res, err := s.RecordFeedbacks(context.Background(), []ledger.Feedback{
		fb("a", 2, ledger.Bounced), fb("b", 4, ledger.Bounced), fb("a", 2, ledger.Bounced), fb("c", 3, ledger.Complained), fb("d", 9, ledger.Bounced)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 5 || !res[0].Moved || !errors.Is(res[1].Refused, ledger.ErrIllegalTransition) || !res[2].Duplicate ||
		!res[3].Moved || !errors.Is(res[4].Refused, ledger.ErrNoRow) {
		t.Fatalf("results %+v", res)
	}
	if n := counts(t, s, id); n.Bounced != 1 || n.Complained != 1 || n.InFlight != 1 {
		t.Fatalf("counts %+v", n)
	}
}

// campaignIDsNeverReused: a campaign's ID is in every token and link it
// sent, so a campaign removed (the newest one, too) leaves its ID unused
// for ever, and the same name makes a new ID.
func campaignIDsNeverReused(t *testing.T, s ledger.Store) {
	ctx := context.Background()
	seen := map[int64]bool{}
	for range 3 {
		c := ledger.Campaign{Name: "same", ListPath: "l.csv", Settings: []byte(`{}`)}
		if err := s.CreateCampaign(ctx, &c); err != nil {
			t.Fatal(err)
		}
		if seen[c.ID] {
			t.Fatalf("campaign ID %d given twice", c.ID)
		}
		seen[c.ID] = true
		if err := s.RemoveCampaign(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
	}
}

// SentCampaign makes campaign name of rows recipients, userN@example.com
// at row N from 2, each recorded sent with MessageID(id, N) as a run
// leaves them: the ledger the feedback benchmarks match reports against.
func SentCampaign(t testing.TB, s ledger.Store, name string, rows int) int64 {
	t.Helper()
	ctx := context.Background()
	c := ledger.Campaign{Name: name, ListPath: "l.csv", Settings: []byte(`{}`), Imported: true}
	if err := s.CreateCampaign(ctx, &c); err != nil {
		t.Fatal(err)
	}
	im, err := s.Import(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	for r := 2; r < rows+2; r++ {
		a := fmt.Sprintf("user%d@example.com", r)
		if err := im.Add(ledger.Recipient{Row: r, Email: a, Key: a, Offset: int64(r * 40)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := im.Commit(); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for first := 2; first < rows+2; first += 4096 {
		last := min(first+4095, rows+1)
		b := ledger.Batch{Claims: []ledger.Claim{{First: first, Last: last, DueAt: now}}, Settled: true}
		for r := first; r <= last; r++ {
			b.Outcomes = append(b.Outcomes, ledger.Outcome{Row: r, State: ledger.Sent, Attempted: true, Attempt: 1,
				Code: 250, Text: "2.0.0 Ok: queued as ABCDEF0123", MessageID: MessageID(c.ID, r)})
		}
		if err := s.Apply(ctx, c.ID, b, now); err != nil {
			t.Fatal(err)
		}
	}
	return c.ID
}

// MessageID is a Message-ID of mailblast's form (HEX24.ROW@domain) for
// row of campaign id.
func MessageID(id int64, row int) string {
	return fmt.Sprintf("%016x%08x.%d@example.com", row*7919, id, row)
}

// BenchSize is the size a benchmark takes from the environment variable
// name (MAILBLAST_BENCH_ROWS ...), def when it is unset or not above 0.
func BenchSize(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
