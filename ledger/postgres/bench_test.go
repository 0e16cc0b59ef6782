package postgres

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/ledger/postgres/pgtest"
)

// roundTrips counts the statements and batches sent: each is one round
// trip once its statements are prepared (pgx caches them per connection).
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

func benchStore(b *testing.B, rows int) (*Store, *roundTrips, int64) {
	tr := &roundTrips{}
	s, err := Open(context.Background(), pgtest.Start(b), Options{Tracer: tr})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	c := ledger.Campaign{Name: "bench", ListPath: "l.csv", Settings: []byte(`{}`)}
	if err := s.CreateCampaign(ctx, &c); err != nil {
		b.Fatal(err)
	}
	im, _ := s.Import(ctx, c.ID)
	for r := 2; r < rows+2; r++ {
		a := fmt.Sprintf("user%d@example.com", r)
		if err := im.Add(ledger.Recipient{Row: r, Email: a, Key: a, Offset: int64(r * 40)}); err != nil {
			b.Fatal(err)
		}
	}
	if err := im.Commit(); err != nil {
		b.Fatal(err)
	}
	return s, tr, c.ID
}

// BenchmarkSendPath is a run's use of the ledger per chunk of 64: Due,
// then one group commit with the chunk's claim and the previous chunk's
// outcomes (as campaign's committer does). It reports the claim latency
// (Due and the claim's commit), round trips per message and messages a
// second.
func BenchmarkSendPath(b *testing.B) {
	const chunk = 64
	s, tr, id := benchStore(b, b.N+chunk)
	ctx := context.Background()
	var claimTime, dueTime time.Duration
	var claims int
	var prev []ledger.Outcome
	tr.n.Store(0)
	b.ResetTimer()
	for cursor := 0; cursor < b.N+1; {
		start := time.Now()
		due, err := s.Due(ctx, id, start, cursor, chunk)
		if err != nil || len(due) == 0 {
			b.Fatal(err, len(due))
		}
		dueTime += time.Since(start)
		batch := ledger.Batch{Claims: []ledger.Claim{{First: due[0].Row, Last: due[len(due)-1].Row, DueAt: start}}, Outcomes: prev}
		if err := s.Apply(ctx, id, batch, start); err != nil {
			b.Fatal(err)
		}
		claimTime += time.Since(start)
		claims++
		prev = prev[:0]
		for _, r := range due {
			prev = append(prev, ledger.Outcome{Row: r.Row, State: ledger.Sent, Attempted: true, Attempt: 1, Code: 250,
				Text: "2.0.0 Ok: queued as ABCDEF0123", MessageID: fmt.Sprintf("m%d@example.com", r.Row), Relay: "relay"})
		}
		cursor = due[len(due)-1].Row
	}
	if err := s.Apply(ctx, id, ledger.Batch{Outcomes: prev, Settled: true}, time.Now()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	msgs := float64(claims * chunk)
	b.ReportMetric(float64(claimTime.Microseconds())/float64(claims)/1000, "ms/claim")
	b.ReportMetric(float64(dueTime.Microseconds())/float64(claims)/1000, "ms/due")
	b.ReportMetric(float64(tr.n.Load())/msgs, "roundtrips/msg")
	b.ReportMetric(msgs/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkApply is the throughput of outcome commits alone: rows claimed
// beforehand, outcomes committed 512 at a time.
func BenchmarkApply(b *testing.B) {
	const batch = 512
	s, _, id := benchStore(b, b.N)
	ctx := context.Background()
	now := time.Now()
	if err := s.Apply(ctx, id, ledger.Batch{Claims: []ledger.Claim{{First: 2, Last: b.N + 1, DueAt: now}}}, now); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for first := 2; first < b.N+2; first += batch {
		var outs []ledger.Outcome
		for r := first; r < min(first+batch, b.N+2); r++ {
			outs = append(outs, ledger.Outcome{Row: r, State: ledger.Sent, Attempted: true, Attempt: 1, Code: 250, Relay: "relay"})
		}
		if err := s.Apply(ctx, id, ledger.Batch{Outcomes: outs}, now); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "outcomes/s")
}
