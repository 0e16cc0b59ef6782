package feedback_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailblast/mailblast/feedback"
	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/ledger/storetest"
)

// TestBenchApply measures the Applier at the scale: 100,000
// events against a ledger of 1,000,000 recipients, every one sent with
// its Message-ID. It takes minutes, so it runs only with
// MAILBLAST_BENCH_FEEDBACK=1 (sizes: MAILBLAST_BENCH_ROWS, _EVENTS):
//
//	MAILBLAST_BENCH_FEEDBACK=1 go test -run TestBenchApply -v -timeout 30m ./feedback/
//
// The events are what a bounce mailbox holds: 60% hard bounces matched by
// Message-ID (and address), 15% soft bounces and 5% delays matched by
// token, 10% complaints by Message-ID without address, 10% forged
// Message-IDs that match nobody. Each is its own transaction, as import,
// fetch and listen apply them.
func TestBenchApply(t *testing.T) {
	if os.Getenv("MAILBLAST_BENCH_FEEDBACK") == "" {
		t.Skip("set MAILBLAST_BENCH_FEEDBACK=1 to run the benchmark")
	}
	rows, events := storetest.BenchSize("MAILBLAST_BENCH_ROWS", 1_000_000), storetest.BenchSize("MAILBLAST_BENCH_EVENTS", 100_000)
	ctx := context.Background()
	s, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Now()
	id := storetest.SentCampaign(t, s, "bench", rows)
	t.Logf("ledger of %d sent recipients built in %v (peak RSS so far %d MB)", rows, time.Since(t0).Round(time.Second), peakRSS()>>20)
	app, err := feedback.NewApplier(ctx, s, feedback.Options{})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := feedback.VERPKey(ctx, s)
	evs := benchEvents(id, rows, events, key)
	// A tenth one at a time, as listen applies them: a commit each.
	single := evs[:events/10]
	var sum feedback.Summary
	t1 := time.Now()
	for _, ev := range single {
		res, err := app.Apply(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		sum.Count(ev.Kind, res)
	}
	el := time.Since(t1)
	t.Logf("one at a time: %d events in %v: %.0f events/s", len(single), el.Round(time.Millisecond), float64(len(single))/el.Seconds())
	// The rest as import applies a mailbox: 256 to a commit.
	batched := evs[events/10:]
	t2 := time.Now()
	if err := app.ApplyEvents(ctx, batched, &sum); err != nil {
		t.Fatal(err)
	}
	el = time.Since(t2)
	t.Logf("batched: %d events in %v: %.0f events/s; peak RSS %d MB", len(batched), el.Round(time.Millisecond),
		float64(len(batched))/el.Seconds(), peakRSS()>>20)
	t.Logf("summary %+v", sum)
	if sum.Unmatched < events/10 || sum.HardBounces == 0 {
		t.Errorf("summary %+v: the mix did not match as built", sum)
	}
}

func benchEvents(id int64, rows, n int, key []byte) []feedback.Event {
	rnd := rand.New(rand.NewPCG(1, 2))
	out := make([]feedback.Event, n)
	for i := range out {
		row := 2 + rnd.IntN(rows)
		ev := feedback.Event{Source: "dsn", Key: fmt.Sprintf("bench-%d", i), At: time.Now()}
		switch p := i % 20; {
		case p < 12:
			ev.Kind, ev.Status, ev.MessageID, ev.Address = feedback.HardBounce, "5.1.1", storetest.MessageID(id, row), fmt.Sprintf("user%d@example.com", row)
		case p < 15:
			ev.Kind, ev.Status, ev.Token = feedback.SoftBounce, "4.2.2", feedback.SignToken(key, feedback.PurposeVERP, feedback.Target{CampaignID: id, Row: row})
		case p < 16:
			ev.Kind, ev.Status, ev.Token = feedback.Delayed, "4.4.1", feedback.SignToken(key, feedback.PurposeVERP, feedback.Target{CampaignID: id, Row: row})
		case p < 18:
			ev.Kind, ev.Source, ev.MessageID = feedback.Complaint, "arf", storetest.MessageID(id, row)
		default:
			ev.Kind, ev.Status, ev.MessageID = feedback.HardBounce, "5.1.1", fmt.Sprintf("%024x.%d@example.com", i, row)
		}
		out[i] = ev
	}
	return out
}

// peakRSS is the process's peak resident set (VmHWM), 0 where unknown.
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
