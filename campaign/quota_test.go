package campaign

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/sender"
)

func TestWindowRoom(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	minutes := []ledger.SentMinute{{Minute: t0, Sent: 3}, {Minute: t0.Add(10 * time.Minute), Sent: 4}}
	now := t0.Add(20 * time.Minute)
	for _, c := range []struct {
		n, extra int
		want     time.Time
	}{
		{5, 0, t0.Add(61 * time.Minute)},  // 7 sent: the first minute's 3 must leave
		{2, 0, t0.Add(71 * time.Minute)},  // all 7 but one: both minutes
		{5, 2, t0.Add(71 * time.Minute)},  // 9 with 2 of this run's not in the ledger yet
		{5, 6, now.Add(61 * time.Minute)}, // this run's own, sent now, must leave too
	} {
		q := sender.Quota{N: c.n, Window: time.Hour}
		if got := windowRoom(minutes, c.extra, q, now); !got.Equal(c.want) {
			t.Errorf("N %d, extra %d: room at %s, want %s", c.n, c.extra, got.Format(time.TimeOnly), c.want.Format(time.TimeOnly))
		}
	}
}

// TestRelayQuotaCounts: a relay's Allowance counts the ledger's sends
// (another campaign's too) and this run's not yet committed, counts a
// commit once, and gives back room a deferred message took.
func TestRelayQuotaCounts(t *testing.T) {
	ctx := context.Background()
	store, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	now := time.Now()
	sentBy(t, store, "other", "ses", 2, now)
	var log logReporter
	qs := &quotas{all: true}
	q := &relayQuota{name: "ses", quota: sender.Quota{N: 6, Window: time.Hour}, store: store,
		now: func() time.Time { return now }, logf: log.Logf, commits: &qs.commits}
	qs.relays = map[string]*relayQuota{"ses": q}
	for i := range 4 {
		if !q.Take() {
			t.Fatalf("take %d of 4 refused (2 of 6 sent by another campaign)", i+1)
		}
	}
	if q.Take() {
		t.Fatal("a 7th message was allowed")
	}
	q.Return() // one deferred
	// Three of this run's are committed, then the count is read again.
	c := ledger.Campaign{Name: "mine", ListPath: "l.csv", Settings: []byte(`{}`)}
	if err := store.CreateCampaign(ctx, &c); err != nil {
		t.Fatal(err)
	}
	importRows(t, store, c.ID, 3)
	b := ledger.Batch{Claims: []ledger.Claim{{First: 2, Last: 4, DueAt: now}}}
	for r := 2; r <= 4; r++ {
		b.Outcomes = append(b.Outcomes, ledger.Outcome{Row: r, State: ledger.Sent, Attempted: true, Attempt: 1, Code: 250, Relay: "ses"})
	}
	if err := qs.wrap(store).Apply(ctx, c.ID, b, now); err != nil {
		t.Fatal(err)
	}
	q.readAt = time.Time{}
	if !q.Take() || q.Take() {
		t.Fatalf("after the commit: want exactly one more (2 + 3 committed + 0 on the way of 6)")
	}
	if !strings.Contains(strings.Join(log.lines, "\n"), "quota 6/1h of relay ses used up; next room at ") {
		t.Errorf("not said: %q", log.lines)
	}
}

func sentBy(t *testing.T, store ledger.Store, name, relay string, n int, at time.Time) int64 {
	t.Helper()
	c := ledger.Campaign{Name: name, ListPath: "l.csv", Settings: []byte(`{}`)}
	if err := store.CreateCampaign(context.Background(), &c); err != nil {
		t.Fatal(err)
	}
	importRows(t, store, c.ID, n)
	b := ledger.Batch{Claims: []ledger.Claim{{First: 2, Last: n + 1, DueAt: at}}}
	for r := 2; r <= n+1; r++ {
		b.Outcomes = append(b.Outcomes, ledger.Outcome{Row: r, State: ledger.Sent, Attempted: true, Attempt: 1, Code: 250, Relay: relay})
	}
	if err := store.Apply(context.Background(), c.ID, b, at); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

func importRows(t *testing.T, store ledger.Store, id int64, n int) {
	t.Helper()
	im, err := store.Import(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for r := 2; r <= n+1; r++ {
		a := "u" + string(rune('a'+r)) + "@example.com"
		if err := im.Add(ledger.Recipient{Row: r, Email: a, Key: a}); err != nil {
			t.Fatal(err)
		}
	}
	if err := im.Commit(); err != nil {
		t.Fatal(err)
	}
}
