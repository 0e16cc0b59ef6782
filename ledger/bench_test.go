package ledger

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkCampaign is the ledger traffic of one first pass, per row: the
// import, then Due, a claim and the outcomes for each chunk of 256, in
// batches of 128 as the committer sees them at loopback speed. The
// outcomes carry a relay's reply and a Message-ID like a real run's.
func BenchmarkCampaign(b *testing.B) {
	const rows, chunk, batch = 20000, 256, 128
	ctx := context.Background()
	var imp, send time.Duration
	for i := 0; i < b.N; i++ {
		s, err := Open(filepath.Join(b.TempDir(), "l.db"))
		if err != nil {
			b.Fatal(err)
		}
		c := Campaign{Name: "x", Settings: []byte("{}")}
		if err := s.CreateCampaign(ctx, &c); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		im, _ := s.Import(ctx, c.ID)
		for r := 2; r < rows+2; r++ {
			email := fmt.Sprintf("user%d@example.com", r)
			if err := im.Add(Recipient{Row: r, Email: email, Key: email, Offset: int64(r * 40)}); err != nil {
				b.Fatal(err)
			}
		}
		if err := im.Commit(); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		imp += t1.Sub(t0)
		now := time.Now()
		cursor := 0
		for {
			due, err := s.Due(ctx, c.ID, now, cursor, chunk)
			if err != nil {
				b.Fatal(err)
			}
			if len(due) == 0 {
				break
			}
			cursor = due[len(due)-1].Row
			claim := Claim{First: due[0].Row, Last: cursor, DueAt: now}
			if err := s.Apply(ctx, c.ID, Batch{Claims: []Claim{claim}}, now); err != nil {
				b.Fatal(err)
			}
			for k := 0; k < len(due); k += batch {
				var outs []Outcome
				for _, r := range due[k:min(k+batch, len(due))] {
					outs = append(outs, Outcome{Row: r.Row, State: Sent, Attempted: true, Attempt: 1,
						MessageID: fmt.Sprintf("<%d.x.abcdef@example.com>", r.Row), Code: 250,
						Enhanced: "2.0.0", Text: "Ok: queued as 4Xk9cN0abcz"})
				}
				if err := s.Apply(ctx, c.ID, Batch{Outcomes: outs}, now); err != nil {
					b.Fatal(err)
				}
			}
		}
		send += time.Since(t1)
		s.Close()
	}
	n := float64(rows * b.N)
	b.ReportMetric(float64(imp.Nanoseconds())/n/1000, "import-µs/row")
	b.ReportMetric(float64(send.Nanoseconds())/n/1000, "send-µs/row")
}
