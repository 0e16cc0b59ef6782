package e2e

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5"

	"github.com/mailblast/mailblast/ledger/postgres"
	"github.com/mailblast/mailblast/ledger/postgres/pgtest"
	"github.com/mailblast/mailblast/ledger/storetest"
	"github.com/mailblast/mailblast/sender/sendertest"
)

// The PostgreSQL figures for BENCHMARKS.md, side by side in one run. A few
// minutes of both cores, so only with MAILBLAST_BENCH_PG=1:
//
//	MAILBLAST_BENCH_PG=1 go test -run TestBenchPG -v -timeout 30m ./e2e/
//
// Sizes: MAILBLAST_BENCH_PG_SLOW rows to the 20 ms relay (1,500),
// MAILBLAST_BENCH_PG_SINK rows to smtp-sink (100,000), MAILBLAST_BENCH_PG_BIG
// recipients in the big ledger (1,000,000).
func benchPG(t *testing.T) {
	if os.Getenv("MAILBLAST_BENCH_PG") == "" {
		t.Skip("set MAILBLAST_BENCH_PG=1 to run the PostgreSQL benchmarks")
	}
}

// timedFleet runs n workers of one campaign to the end and returns the
// wall time from the first start to the last exit.
func timedFleet(t *testing.T, ws []*workspace, args ...string) time.Duration {
	t.Helper()
	start := time.Now()
	ps := make([]*worker, len(ws))
	for i, w := range ws {
		ps[i] = w.start(args...)
	}
	for i, p := range ps {
		if code := p.wait(t); code != 0 {
			t.Fatalf("worker %d: exit %d\n%s", i, code, p.err)
		}
	}
	return time.Since(start)
}

// TestBenchPGScaling: 1 worker against 3 on one PostgreSQL, to a relay
// that takes 20 ms per message, 2 connections per worker. The relay's
// latency is the limit, so 3 workers should be about 3 times as fast.
func TestBenchPGScaling(t *testing.T) {
	benchPG(t)
	rows := storetest.BenchSize("MAILBLAST_BENCH_PG_SLOW", 1500)
	var took [2]time.Duration
	for i, n := range []int{1, 3} {
		srv := sendertest.NewServer(t, sendertest.Options{DiscardData: true, Faults: sendertest.Faults{
			Data: func([]string, []byte) *smtp.SMTPError { time.Sleep(20 * time.Millisecond); return nil },
		}})
		ws := pgFleet(t, srv, n, rows)
		took[i] = timedFleet(t, ws, "send", "list.csv", "--campaign", "scale", "--connections", "2", "--retry-wait", "1m")
		if got := srv.Count(); got < rows {
			t.Fatalf("%d workers: relay got %d of %d", n, got, rows)
		}
		t.Logf("%d worker(s), 2 connections each, 20 ms relay: %d messages in %s: %.1f msg/s",
			n, rows, took[i].Round(time.Millisecond), float64(rows)/took[i].Seconds())
	}
	t.Logf("3 workers / 1 worker: %.2fx (want >= 2.5x)", took[0].Seconds()/took[1].Seconds())
}

// TestBenchPGvsSQLite: one worker to a local smtp-sink, the ledger on
// PostgreSQL against SQLite (want PostgreSQL >= 0.5x).
func TestBenchPGvsSQLite(t *testing.T) {
	benchPG(t)
	rows := storetest.BenchSize("MAILBLAST_BENCH_PG_SINK", 100_000)
	url := pgtest.Start(t)
	var rate [2]float64
	for i, shared := range []bool{false, true} {
		sink := startSink(t)
		w := newWorkspace(t, "127.0.0.1", sink.port, rows)
		kind := "SQLite"
		if shared {
			kind, w = "PostgreSQL", onPostgres(w, url)
		}
		took := timedFleet(t, []*workspace{w}, "send", "list.csv", "--connections", "8")
		rate[i] = float64(rows) / took.Seconds()
		t.Logf("%s, 1 worker, 8 connections, smtp-sink: %d messages in %s: %.0f msg/s", kind, rows, took.Round(time.Millisecond), rate[i])
	}
	t.Logf("PostgreSQL / SQLite: %.2fx (want >= 0.5x)", rate[1]/rate[0])
}

// TestBenchPGMillion: a campaign of 1,000,000 sent recipients on
// PostgreSQL: the tables' and indexes' sizes, and how long status takes.
func TestBenchPGMillion(t *testing.T) {
	benchPG(t)
	rows := storetest.BenchSize("MAILBLAST_BENCH_PG_BIG", 1_000_000)
	url := pgtest.Start(t)
	ctx := context.Background()
	s, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	storetest.SentCampaign(t, s, "big", rows)
	t.Logf("%d sent recipients recorded through Import and Apply in %s", rows, time.Since(t0).Round(time.Second))
	s.Close()
	logSizes(t, ctx, url)
	w := onPostgres(newWorkspace(t, "127.0.0.1", 1, 1), url)
	for i := range 3 {
		t1 := time.Now()
		out := w.mustRun(0, "status", "--campaign", "big")
		t.Logf("status, run %d: %s (%s)", i+1, time.Since(t1).Round(time.Millisecond), strings.TrimSpace(strings.SplitN(out, "\n", 2)[0]))
	}
}

// logSizes logs each table's size, its indexes' and the database's.
func logSizes(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	_, _ = c.Exec(ctx, "VACUUM ANALYZE")
	rows, err := c.Query(ctx, `SELECT relname, pg_table_size(oid), pg_indexes_size(oid) FROM pg_class
		WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace ORDER BY pg_total_relation_size(oid) DESC`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		var table, index int64
		if err := rows.Scan(&name, &table, &index); err != nil {
			t.Fatal(err)
		}
		if table+index > 64<<10 {
			t.Logf("table %-20s %8.1f MiB, indexes %8.1f MiB", name, mib(table), mib(index))
		}
	}
	var db int64
	if err := c.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&db); err != nil {
		t.Fatal(err)
	}
	t.Logf("database: %.1f MiB", mib(db))
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
