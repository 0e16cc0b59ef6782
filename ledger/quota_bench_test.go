package ledger

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// BenchmarkQuotaCount is what a quota costs a run: SentSince over a 24-hour
// window (every few seconds) and SentMinutes (when the quota is used up),
// in a ledger of MAILBLAST_BENCH_ROWS (default 1,000,000) recipients sent
// through one relay by 10 campaigns, 256 to a commit a minute apart: about
// 3,900 relay_log minutes, 1,440 of them in the window. The same counts
// without the relay_log_quota index are reported beside them.
func BenchmarkQuotaCount(b *testing.B) {
	rows, err := strconv.Atoi(os.Getenv("MAILBLAST_BENCH_ROWS"))
	if err != nil || rows <= 0 {
		rows = 1_000_000
	}
	s, err := Open(filepath.Join(b.TempDir(), "db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	end := quotaLedger(b, s, rows)
	since := end.Add(-24 * time.Hour)
	ctx := context.Background()
	var count, minutes time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := s.SentSince(ctx, "ses", since); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := s.SentMinutes(ctx, "ses", since); err != nil {
			b.Fatal(err)
		}
		count, minutes = count+t1.Sub(t0), minutes+time.Since(t1)
	}
	b.ReportMetric(float64(count.Microseconds())/float64(b.N), "SentSince-µs")
	b.ReportMetric(float64(minutes.Microseconds())/float64(b.N), "SentMinutes-µs")
	b.StopTimer()
	b.ReportMetric(float64(withoutIndex(b, s, since).Microseconds()), "SentSince-noindex-µs")
}

// quotaLedger fills s with rows recipients, all sent through relay "ses",
// and returns the time of the last commit.
func quotaLedger(b *testing.B, s *SQLite, rows int) time.Time {
	ctx := context.Background()
	const campaigns, batch = 10, 256
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for c := range campaigns {
		camp := Campaign{Name: fmt.Sprintf("c%d", c), ListPath: "l.csv", Settings: []byte(`{}`), Imported: true}
		if err := s.CreateCampaign(ctx, &camp); err != nil {
			b.Fatal(err)
		}
		im, _ := s.Import(ctx, camp.ID)
		n := rows / campaigns
		for r := 2; r < n+2; r++ {
			a := fmt.Sprintf("user%d@example.com", r)
			if err := im.Add(Recipient{Row: r, Email: a, Key: a, Offset: int64(r * 40)}); err != nil {
				b.Fatal(err)
			}
		}
		if err := im.Commit(); err != nil {
			b.Fatal(err)
		}
		for first := 2; first < n+2; first += batch {
			last := min(first+batch-1, n+1)
			bt := Batch{Claims: []Claim{{First: first, Last: last, DueAt: at}}, Settled: true}
			for r := first; r <= last; r++ {
				bt.Outcomes = append(bt.Outcomes, Outcome{Row: r, State: Sent, Attempted: true, Attempt: 1,
					Code: 250, MessageID: fmt.Sprintf("%016x%08x.%d@example.com", r*7919, camp.ID, r), Relay: "ses"})
			}
			if err := s.Apply(ctx, camp.ID, bt, at); err != nil {
				b.Fatal(err)
			}
			at = at.Add(time.Minute)
		}
	}
	return at
}

// withoutIndex times SentSince once the index is dropped.
func withoutIndex(b *testing.B, s *SQLite, since time.Time) time.Duration {
	ctx := context.Background()
	if _, err := s.db.ExecContext(ctx, `DROP INDEX relay_log_quota`); err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	const n = 20
	for range n {
		if _, err := s.SentSince(ctx, "ses", since); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(t0) / n
}
