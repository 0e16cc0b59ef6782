package ledger

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkCampaign is the ledger traffic of one first pass, per row: the
// import, then Due, a claim and the outcomes for each chunk of 256, in
// batches of 128 as the committer sees them at loopback speed. The
// outcomes carry a relay's reply and a Message-ID like a real run's.
// benchRelay is the relay name BenchmarkCampaign's outcomes carry, one
// string for the run as the pool's name is.
var benchRelay = "relay-a"

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
						Enhanced: "2.0.0", Text: "Ok: queued as 4Xk9cN0abcz", Relay: benchRelay})
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

// BenchmarkOpenCheck is what opening a ledger for a write command costs on
// a campaign of a million recipients, all sent (one attempt each, with a
// relay's reply): Open with its quick_check, and quick_check alone. The
// ledger is built once, outside the timing; the page cache is warm, as it
// is for a run just after another.
func BenchmarkOpenCheck(b *testing.B) {
	rows := 1_000_000
	if testing.Short() {
		rows = 20_000
	}
	path := filepath.Join(b.TempDir(), "l.db")
	sentLedger(b, path, rows)
	fi, _ := os.Stat(path)
	var open, check, checkCPU time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		quickChecked.Delete(path) // each Open checks, as in a new process
		t0 := time.Now()
		s, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		open += time.Since(t0)
		t0, c0 := time.Now(), cpuTime()
		if err := pragmaCheck(s.db, path, "quick_check"); err != nil {
			b.Fatal(err)
		}
		check += time.Since(t0)
		checkCPU += cpuTime() - c0
		s.Close()
	}
	b.ReportMetric(open.Seconds()/float64(b.N), "open-s")
	b.ReportMetric(check.Seconds()/float64(b.N), "quick_check-s")
	b.ReportMetric(checkCPU.Seconds()/float64(b.N), "quick_check-cpu-s")
	b.ReportMetric(float64(fi.Size())/(1<<20), "MiB")
}

// sentLedger writes a ledger at path with one campaign of rows recipients,
// every one sent at its first attempt.
func sentLedger(b *testing.B, path string, rows int) {
	ctx := context.Background()
	s, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c := Campaign{Name: "x", Settings: []byte("{}")}
	if err := s.CreateCampaign(ctx, &c); err != nil {
		b.Fatal(err)
	}
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
	now := time.Now()
	for first := 2; first < rows+2; first += 4096 {
		last := min(first+4095, rows+1)
		outs := make([]Outcome, 0, last-first+1)
		for r := first; r <= last; r++ {
			outs = append(outs, Outcome{Row: r, State: Sent, Attempted: true, Attempt: 1,
				MessageID: fmt.Sprintf("<%d.x.abcdef@example.com>", r), Code: 250,
				Enhanced: "2.0.0", Text: "Ok: queued as 4Xk9cN0abcz"})
		}
		b := Batch{Claims: []Claim{{First: first, Last: last, DueAt: now}}, Outcomes: outs, Settled: true}
		if err := s.Apply(ctx, c.ID, b, now); err != nil {
			panic(err)
		}
	}
}
