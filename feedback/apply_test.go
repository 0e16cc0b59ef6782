package feedback_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mailblast/mailblast/feedback"
	"github.com/mailblast/mailblast/ledger"
)

// fixture is a real SQLite ledger with campaigns whose rows were sent
// with Message-IDs of mailblast's form.
type fixture struct {
	t     *testing.T
	store *ledger.SQLite
	app   *feedback.Applier
	now   time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	s, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	f := &fixture{t: t, store: s, now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	f.app, err = feedback.NewApplier(context.Background(), s, feedback.Options{Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func msgID(campaign int64, row int) string {
	return fmt.Sprintf("%016x%08x.%d@example.com", row, campaign, row)
}

// campaign imports addrs as rows 2.. and marks all but pending ones sent.
func (f *fixture) campaign(name string, addrs []string, pending ...int) int64 {
	f.t.Helper()
	ctx := context.Background()
	c := ledger.Campaign{Name: name, ListPath: "l.csv", Settings: []byte(`{}`)}
	if err := f.store.CreateCampaign(ctx, &c); err != nil {
		f.t.Fatal(err)
	}
	im, _ := f.store.Import(ctx, c.ID)
	for i, a := range addrs {
		if err := im.Add(ledger.Recipient{Row: i + 2, Email: a, Key: a}); err != nil {
			f.t.Fatal(err)
		}
	}
	if err := im.Commit(); err != nil {
		f.t.Fatal(err)
	}
	b := ledger.Batch{Claims: []ledger.Claim{{First: 2, Last: len(addrs) + 1, DueAt: f.now}}, Settled: true}
	skip := map[int]bool{}
	for _, p := range pending {
		skip[p] = true
	}
	for i := range addrs {
		row := i + 2
		o := ledger.Outcome{Row: row, State: ledger.Pending}
		if !skip[row] {
			o = ledger.Outcome{Row: row, State: ledger.Sent, Attempted: true, Attempt: 1, Code: 250, MessageID: msgID(c.ID, row)}
		}
		b.Outcomes = append(b.Outcomes, o)
	}
	if err := f.store.Apply(ctx, c.ID, b, f.now); err != nil {
		f.t.Fatal(err)
	}
	return c.ID
}

func (f *fixture) apply(ev feedback.Event) feedback.Result {
	f.t.Helper()
	res, err := f.app.Apply(context.Background(), ev)
	if err != nil {
		f.t.Fatalf("%+v: %v", ev, err)
	}
	return res
}

func (f *fixture) state(id int64, row int) ledger.State {
	f.t.Helper()
	r, err := f.store.Recipient(context.Background(), id, row)
	if err != nil {
		f.t.Fatal(err)
	}
	return r.State
}

func (f *fixture) suppressed(addr string) bool {
	f.t.Helper()
	_, ok, err := f.store.Suppressed(context.Background(), addr)
	if err != nil {
		f.t.Fatal(err)
	}
	return ok
}

func (f *fixture) noSuppressions() {
	f.t.Helper()
	n := 0
	_ = f.store.Suppressions(context.Background(), func(ledger.Suppression) error { n++; return nil })
	if n != 0 {
		f.t.Errorf("%d addresses suppressed, want none", n)
	}
}

func hard(key, id, addr string) feedback.Event {
	return feedback.Event{Kind: feedback.HardBounce, Source: "dsn", MessageID: id, Address: addr, Status: "5.1.1",
		Diagnostic: "smtp; 550 5.1.1 user unknown", Key: key}
}

func TestForgedMessageIDSuppressesNobody(t *testing.T) {
	f := newFixture(t)
	id := f.campaign("c", []string{"a@example.com", "b@example.com"})
	for _, mid := range []string{
		fmt.Sprintf("%024x.2@example.com", 7), // the right form, never issued
		"<" + msgID(id, 2) + "x>",             // issued, altered
		msgID(id, 3)[:24] + ".2@example.com",  // row 3's hash, row 2's number
		"not-ours@example.com", "",
	} {
		if res := f.apply(hard("k"+mid, mid, "a@example.com")); res != feedback.Unmatched {
			t.Errorf("%q: %s, want unmatched", mid, res)
		}
	}
	f.noSuppressions()
	if st := f.state(id, 2); st != ledger.Sent {
		t.Errorf("row 2 is %s", st)
	}
}

func TestMessageIDOfOneRowWithAnothersAddressSuppressesNobody(t *testing.T) {
	f := newFixture(t)
	id := f.campaign("c", []string{"a@example.com", "b@example.com"})
	if res := f.apply(hard("k1", msgID(id, 2), "b@example.com")); res != feedback.Unmatched {
		t.Fatalf("row 2's Message-ID naming row 3's address: %s, want unmatched", res)
	}
	f.noSuppressions()
	// The right address, in another case, in angle brackets: matched.
	if res := f.apply(hard("k2", "<"+msgID(id, 2)+">", "A@Example.COM")); res != feedback.Applied {
		t.Fatalf("row 2's own report: %s", res)
	}
	if f.state(id, 2) != ledger.Bounced || !f.suppressed("a@example.com") || f.suppressed("b@example.com") {
		t.Error("row 2 is not bounced and suppressed alone")
	}
}

func TestTokenMovesItsRow(t *testing.T) {
	f := newFixture(t)
	id := f.campaign("c", []string{"a@example.com", "b@example.com", "c@example.com"})
	key, err := feedback.VERPKey(context.Background(), f.store)
	if err != nil {
		t.Fatal(err)
	}
	tok := feedback.SignToken(key, feedback.PurposeVERP, feedback.Target{CampaignID: id, Row: 3})
	// Forwarded: the report names another address; the token is signed.
	ev := hard("k1", "", "forwarded@elsewhere.example")
	ev.Token = tok
	if res := f.apply(ev); res != feedback.Applied {
		t.Fatalf("token for row 3: %s", res)
	}
	if f.state(id, 3) != ledger.Bounced || f.state(id, 2) != ledger.Sent || !f.suppressed("b@example.com") {
		t.Error("the token did not move row 3 (and only row 3)")
	}
	bad := hard("k2", "", "")
	bad.Token = feedback.SignToken([]byte("another key, another ledger....."), feedback.PurposeVERP, feedback.Target{CampaignID: id, Row: 4})
	if res := f.apply(bad); res != feedback.Unmatched || f.state(id, 4) != ledger.Sent {
		t.Fatalf("a token signed with another key: %s", res)
	}
}

func TestDelayedChangesNoState(t *testing.T) {
	f := newFixture(t)
	id := f.campaign("c", []string{"a@example.com"})
	ev := feedback.Event{Kind: feedback.Delayed, Source: "dsn", MessageID: msgID(id, 2), Status: "4.4.1", Key: "d1"}
	if res := f.apply(ev); res != feedback.Recorded {
		t.Fatalf("delayed: %s, want recorded", res)
	}
	if f.state(id, 2) != ledger.Sent {
		t.Error("a delay moved the row")
	}
	f.noSuppressions()
	at, _ := f.store.Attempts(context.Background(), id, 2)
	if len(at) != 2 || at[1].Enhanced != "4.4.1" {
		t.Errorf("history %+v: want the send and the delay", at)
	}
}

func TestSoftBouncesSuppressAtTheLimitWithinTheWindow(t *testing.T) {
	f := newFixture(t)
	// Three campaigns, each mailing a and b once: soft bounces count once
	// per message delivered, not once per report about it.
	var ids []int64
	for _, name := range []string{"c1", "c2", "c3"} {
		ids = append(ids, f.campaign(name, []string{"a@example.com", "b@example.com"}))
	}
	soft := func(key string, id int64, row int, at time.Time) feedback.Result {
		return f.apply(feedback.Event{Kind: feedback.SoftBounce, Source: "dsn", MessageID: msgID(id, row), Status: "4.2.2", At: at, Key: key})
	}
	if soft("a1", ids[0], 2, f.now.Add(-20*24*time.Hour)) != feedback.Applied || soft("a1again", ids[0], 2, f.now.Add(-19*24*time.Hour)) != feedback.Recorded {
		t.Fatal("the first soft bounce moves the row, another about the same message only records")
	}
	if soft("a2", ids[1], 2, f.now.Add(-10*24*time.Hour)) != feedback.Applied || f.suppressed("a@example.com") {
		t.Fatal("suppressed after soft bounces of two messages (three reports)")
	}
	if soft("a3", ids[2], 2, f.now) != feedback.Applied || !f.suppressed("a@example.com") {
		t.Fatal("not suppressed at the third message soft-bounced in 30 days")
	}
	// b: three messages spread over 70 days never make three within 30.
	for i, days := range []int{70, 35, 0} {
		soft(fmt.Sprint("b", i), ids[i], 3, f.now.Add(-time.Duration(days)*24*time.Hour))
	}
	if f.suppressed("b@example.com") {
		t.Error("suppressed by soft bounces spread beyond the window")
	}
}

func TestPolicyBlocksNeverSuppress(t *testing.T) {
	f := newFixture(t)
	id := f.campaign("c", []string{"a@example.com"})
	for i, st := range []string{"5.7.1", "5.7.1", "5.7.26", "5.1.7", "5.1.8"} {
		ev := hard(fmt.Sprint("p", i), msgID(id, 2), "")
		ev.Status = st
		f.apply(ev)
	}
	f.noSuppressions()
	if n, _ := f.store.SoftBounces(context.Background(), "a@example.com", time.Time{}); n != 0 {
		t.Errorf("%d policy blocks counted as soft bounces", n)
	}
	if f.state(id, 2) != ledger.Bounced {
		t.Error("a policy block still bounced the message")
	}
}

func TestComplaintSuppressesForEveryCampaign(t *testing.T) {
	f := newFixture(t)
	first := f.campaign("first", []string{"a@example.com"})
	second := f.campaign("second", []string{"x@example.com", "a@example.com"}, 3)
	ev := feedback.Event{Kind: feedback.Complaint, Source: "arf", MessageID: msgID(first, 2), Key: "c1"}
	if res := f.apply(ev); res != feedback.Applied || f.state(first, 2) != ledger.Complained {
		t.Fatalf("complaint: %s, row %s", res, f.state(first, 2))
	}
	n, err := f.store.ApplySuppressions(context.Background(), second, f.now)
	if err != nil || n != 1 || f.state(second, 3) != ledger.Skipped {
		t.Fatalf("the other campaign's row: %d skipped (%v), state %s", n, err, f.state(second, 3))
	}
	sup, _, _ := f.store.Suppressed(context.Background(), "a@example.com")
	if sup.Source != ledger.SourceComplaint {
		t.Errorf("suppression %+v", sup)
	}
}

func TestReapplyingAKeyIsDuplicate(t *testing.T) {
	f := newFixture(t)
	id := f.campaign("c", []string{"a@example.com"})
	ev := hard("same", msgID(id, 2), "a@example.com")
	if res := f.apply(ev); res != feedback.Applied {
		t.Fatal(res)
	}
	if res := f.apply(ev); res != feedback.Duplicate {
		t.Fatalf("again: %s, want duplicate", res)
	}
	// An event without a Key is keyed by what it says.
	ev.Key, ev.Kind = "", feedback.Unsubscribe
	if f.apply(ev) != feedback.Applied || f.apply(ev) != feedback.Duplicate {
		t.Fatal("an event without a Key applied twice")
	}
}

func TestNeverDeliveredIsUnmatched(t *testing.T) {
	f := newFixture(t)
	id := f.campaign("c", []string{"a@example.com", "b@example.com"}, 3)
	key, _ := feedback.VERPKey(context.Background(), f.store)
	ev := hard("k", "", "")
	ev.Token = feedback.SignToken(key, feedback.PurposeVERP, feedback.Target{CampaignID: id, Row: 3})
	if res := f.apply(ev); res != feedback.Unmatched || f.state(id, 3) != ledger.Pending {
		t.Fatalf("a bounce for a pending row: %s", res)
	}
	f.noSuppressions()
}

// Appliers in several goroutines (listen and fetch beside each other)
// lose nothing and apply each Key once.
func TestConcurrentApply(t *testing.T) {
	f := newFixture(t)
	addrs := make([]string, 50)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("u%d@example.com", i)
	}
	id := f.campaign("c", addrs)
	var wg sync.WaitGroup
	results := make(chan feedback.Result, 4*len(addrs))
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range addrs {
				res, err := f.app.Apply(context.Background(), hard(fmt.Sprint("k", i), msgID(id, i+2), ""))
				if err != nil {
					t.Error(err)
				}
				results <- res
			}
		}()
	}
	wg.Wait()
	close(results)
	got := map[feedback.Result]int{}
	for r := range results {
		got[r]++
	}
	if got[feedback.Applied] != len(addrs) || got[feedback.Duplicate] != 3*len(addrs) {
		t.Fatalf("results %v", got)
	}
}

// TestApplyBatch: events recorded in one transaction each get Apply's
// result; one about a row never delivered is refused alone; the Importer
// counts messages and events.
func TestApplyBatch(t *testing.T) {
	f := newFixture(t)
	id := f.campaign("c", []string{"a@example.com", "b@example.com", "c@example.com"}, 4)
	key, _ := feedback.VERPKey(context.Background(), f.store)
	pending := hard("p", "", "")
	pending.Token = feedback.SignToken(key, feedback.PurposeVERP, feedback.Target{CampaignID: id, Row: 4})
	evs := []feedback.Event{hard("k2", msgID(id, 2), ""), pending, hard("k2", msgID(id, 2), ""),
		hard("forged", "0123456789abcdef01234567.3@example.com", ""),
		{Kind: feedback.Complaint, Source: "arf", MessageID: msgID(id, 3), Key: "c3"}}
	res, err := f.app.ApplyBatch(context.Background(), evs)
	if err != nil {
		t.Fatal(err)
	}
	want := []feedback.Result{feedback.Applied, feedback.Unmatched, feedback.Duplicate, feedback.Unmatched, feedback.Applied}
	if fmt.Sprint(res) != fmt.Sprint(want) {
		t.Fatalf("results %v, want %v", res, want)
	}
	if f.state(id, 2) != ledger.Bounced || f.state(id, 3) != ledger.Complained || f.state(id, 4) != ledger.Pending {
		t.Error("the batch moved the wrong rows")
	}
	im := f.app.NewImporter()
	ctx := context.Background()
	_ = im.Report(ctx, feedback.Report{Class: feedback.ClassDSN, Events: evs[:2]})
	_ = im.Report(ctx, feedback.Report{Class: feedback.ClassAutoReply})
	if err := im.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if s := im.Summary; s.Messages != 2 || s.AutoReplies != 1 || s.Duplicates != 1 || s.Unmatched != 1 {
		t.Errorf("summary %+v", s)
	}
}

// TestVERPBeforeENVID: the VERP token of the address a bounce reached
// decides; an ENVID is tried when the VERP token is missing or not ours
// (a relay may set an ENVID of its own, or rewrite the envelope sender).
func TestVERPBeforeENVID(t *testing.T) {
	f := newFixture(t)
	id := f.campaign("c", []string{"a@example.com", "b@example.com", "c@example.com"})
	key, err := feedback.VERPKey(context.Background(), f.store)
	if err != nil {
		t.Fatal(err)
	}
	tok := func(row int) string {
		return feedback.SignToken(key, feedback.PurposeVERP, feedback.Target{CampaignID: id, Row: row})
	}
	for i, c := range []struct {
		verp, envID string
		row         int
	}{
		{tok(2), "relays-own-envid", 2},
		{tok(3), tok(4), 3},
		{"rewritten", tok(4), 4},
	} {
		ev := feedback.Event{Kind: feedback.HardBounce, Source: "dsn", Token: c.verp, EnvID: c.envID, Status: "5.1.1", Key: fmt.Sprint("k", i)}
		if res := f.apply(ev); res != feedback.Applied || f.state(id, c.row) != ledger.Bounced {
			t.Errorf("case %d: %s, row %d %s; want row %d bounced", i, res, c.row, f.state(id, c.row), c.row)
		}
	}
}

// A report dated in the future is recorded at the time it was read.
func TestFutureDatedReportIsNow(t *testing.T) {
	f := newFixture(t)
	id := f.campaign("c", []string{"a@example.com"})
	if res := f.apply(hardAt("f1", msgID(id, 2), f.now.Add(48*time.Hour))); res != feedback.Applied {
		t.Fatalf("%s", res)
	}
	at, _ := f.store.Attempts(context.Background(), id, 2)
	if len(at) != 2 || !at[1].At.Equal(f.now) {
		t.Errorf("history %+v: want the bounce at %v", at, f.now)
	}
}

func hardAt(key, mid string, at time.Time) feedback.Event {
	ev := hard(key, mid, "")
	ev.At = at
	return ev
}

// TestReportsWithoutEventsAreCounted: every message read lands in one
// category of the summary; an ARF report that is not a complaint
// (not-spam, auth-failure) is read, changes nothing, and counts as other.
func TestReportsWithoutEventsAreCounted(t *testing.T) {
	f := newFixture(t)
	var s feedback.Summary
	for _, rep := range []feedback.Report{{Class: feedback.ClassARF}, {Class: feedback.ClassOther}} {
		if err := f.app.ApplyReport(context.Background(), rep, &s); err != nil {
			t.Fatal(err)
		}
	}
	if s.Messages != 2 || s.Other != 2 {
		t.Errorf("summary %+v, want 2 messages, both other", s)
	}
}
