package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/ledger/postgres/pgtest"
)

func open(t *testing.T, url string, opt Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), url, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// kill ends the Store as kill -9 would: no more renewals, the pool gone,
// the lease not released.
func (s *Store) kill() {
	close(s.stop)
	<-s.done
	s.stop = nil
	s.pool.Close()
}

// partition stops the renewals only: the worker still reaches the
// database, but its lease lapses.
func (s *Store) partition() {
	close(s.stop)
	<-s.done
	s.stop = nil
}

func newCampaign(t *testing.T, s ledger.Store, rows int) int64 {
	t.Helper()
	ctx := context.Background()
	c := ledger.Campaign{Name: fmt.Sprintf("c%d", time.Now().UnixNano()), ListPath: "l.csv", Settings: []byte(`{}`)}
	if err := s.CreateCampaign(ctx, &c); err != nil {
		t.Fatal(err)
	}
	im, _ := s.Import(ctx, c.ID)
	for i := range rows {
		a := fmt.Sprintf("u%d@example.com", i)
		if err := im.Add(ledger.Recipient{Row: i + 2, Email: a, Key: a}); err != nil {
			t.Fatal(err)
		}
	}
	if err := im.Commit(); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

func sent(row int) ledger.Outcome {
	return ledger.Outcome{Row: row, State: ledger.Sent, Attempted: true, Attempt: 1, Code: 250}
}

func rowsOf(rs []ledger.Recipient) []int {
	out := make([]int, len(rs))
	for i, r := range rs {
		out[i] = r.Row
	}
	return out
}

// claim takes the next chunk as a run does: Due from cursor, one claim
// over the chunk's range.
func claim(t *testing.T, s *Store, id int64, after, n int) []int {
	t.Helper()
	now := time.Now()
	due, err := s.Due(context.Background(), id, now, after, n)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) == 0 {
		return nil
	}
	c := ledger.Claim{First: due[0].Row, Last: due[len(due)-1].Row, DueAt: now}
	if err := s.Apply(context.Background(), id, ledger.Batch{Claims: []ledger.Claim{c}}, now); err != nil {
		t.Fatal(err)
	}
	return rowsOf(due)
}

// Two workers taking chunks of one campaign at once never get the same
// row, and between them send every row.
func TestWorkersNeverShareARow(t *testing.T) {
	url := pgtest.Start(t)
	a, b := open(t, url, Options{}), open(t, url, Options{})
	const rows = 3000
	id := newCampaign(t, a, rows)
	got := make([][]int, 2)
	var wg sync.WaitGroup
	for i, s := range []*Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cursor := 0
			for {
				chunk := claim(t, s, id, cursor, 37)
				if len(chunk) == 0 && cursor == 0 {
					return
				}
				if len(chunk) == 0 {
					cursor = 0
					continue
				}
				cursor = chunk[len(chunk)-1]
				var outs []ledger.Outcome
				for _, r := range chunk {
					outs = append(outs, sent(r))
				}
				if err := s.Apply(context.Background(), id, ledger.Batch{Outcomes: outs}, time.Now()); err != nil {
					t.Error(err)
					return
				}
				got[i] = append(got[i], chunk...)
			}
		}()
	}
	wg.Wait()
	seen := map[int]int{}
	for i, list := range got {
		for _, r := range list {
			if w, ok := seen[r]; ok {
				t.Fatalf("row %d went to worker %d and worker %d", r, w, i)
			}
			seen[r] = i
		}
	}
	n, _ := a.Counts(context.Background(), id)
	if len(seen) != rows || n.Sent != rows || n.InFlight != 0 {
		t.Fatalf("%d rows handed out, counts %+v: want all %d sent once", len(seen), n, rows)
	}
	if len(got[0]) == 0 || len(got[1]) == 0 {
		t.Logf("one worker took every row (%d, %d): the race was not exercised", len(got[0]), len(got[1]))
	}
}

// waitFor polls fn until it is true, for at most 20 s.
func waitFor(t *testing.T, what string, fn func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !fn(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20 s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A killed worker's claimed rows are in flight: once its lease lapses, the
// other worker's recovery settles them by the policy and counts them; the
// rows it had only reserved are simply due again; before the lapse nothing
// of it is touched.
func TestKilledWorkerIsRecovered(t *testing.T) {
	for _, p := range []ledger.InFlightPolicy{ledger.Resend, ledger.Skip} {
		t.Run(string(p), func(t *testing.T) {
			url := pgtest.Start(t)
			ctx := context.Background()
			a := open(t, url, Options{Lease: 1500 * time.Millisecond})
			b := open(t, url, Options{})
			id := newCampaign(t, a, 30)
			now := time.Now()
			due, _ := a.Due(ctx, id, now, 0, 10) // rows 2-11 reserved
			if err := a.Apply(ctx, id, ledger.Batch{Claims: []ledger.Claim{{First: 2, Last: 6, DueAt: now}},
				Outcomes: []ledger.Outcome{sent(2)}}, now); err != nil || len(due) != 10 {
				t.Fatal(due, err)
			}
			a.kill()
			if n, err := b.RecoverInFlight(ctx, id, p, time.Now()); n != 0 || err != nil {
				t.Fatalf("before the lease lapsed: recovered %d (%v), want none", n, err)
			}
			if d, _ := b.Due(ctx, id, time.Now(), 0, 5); len(d) == 0 || d[0].Row != 12 {
				t.Fatalf("before the lease lapsed, due %v: want rows from 12", rowsOf(d))
			}
			var n int
			waitFor(t, "the dead worker's rows recovered", func() bool {
				var err error
				n, err = b.RecoverInFlight(ctx, id, p, time.Now())
				return n > 0 || err != nil
			})
			c, _ := b.Counts(ctx, id)
			if n != 4 || c.Recovered != 4 || c.InFlight != 0 || c.Sent != 1 {
				t.Fatalf("recovered %d, counts %+v: want rows 3-6 recovered", n, c)
			}
			d, _ := b.Due(ctx, id, time.Now(), 0, 100)
			want := "7 8 9 10 11"
			if p == ledger.Resend {
				want = "3 4 5 6 " + want
			} else if c.Skipped != 4 {
				t.Fatalf("counts %+v: want rows 3-6 skipped", c)
			}
			if got := fmt.Sprint(rowsOf(d)); !strings.HasPrefix(got, "["+want+" 12") {
				t.Fatalf("due after the recovery %s, want %s then the rest", got, want)
			}
		})
	}
}

// A worker that called RecoverInFlight takes over, in Due, the claims of a
// worker whose lease lapses while it runs.
func TestDueTakesOverALapsedClaim(t *testing.T) {
	url := pgtest.Start(t)
	ctx := context.Background()
	a := open(t, url, Options{Lease: 1500 * time.Millisecond})
	b := open(t, url, Options{})
	id := newCampaign(t, a, 10)
	claim(t, a, id, 0, 3) // rows 2-4 in flight
	if n, err := b.RecoverInFlight(ctx, id, ledger.Resend, time.Now()); n != 0 || err != nil {
		t.Fatal(n, err)
	}
	a.kill()
	next, ok, err := b.NextDue(ctx, id)
	if err != nil || !ok {
		t.Fatal(next, ok, err)
	}
	waitFor(t, "rows 2-4 due again", func() bool {
		d, err := b.Due(ctx, id, time.Now(), 0, 3)
		return err == nil && len(d) == 3 && d[0].Row == 2
	})
	if c, _ := b.Counts(ctx, id); c.Recovered != 3 || c.InFlight != 0 {
		t.Fatalf("counts %+v: want the three rows counted as recovered", c)
	}
}

// A worker whose lease lapsed is fenced: its Apply records nothing and
// returns ErrFenced, whether its own clock tells it (the usual case) or
// only the rows' owner does (its clock wrong).
func TestFencedWorkerWritesNothing(t *testing.T) {
	url := pgtest.Start(t)
	ctx := context.Background()
	a := open(t, url, Options{Lease: 1500 * time.Millisecond})
	b := open(t, url, Options{})
	id := newCampaign(t, a, 5)
	claim(t, a, id, 0, 3) // rows 2-4
	a.partition()
	waitFor(t, "a's rows recovered by b", func() bool {
		n, err := b.RecoverInFlight(ctx, id, ledger.Resend, time.Now())
		return n == 3 || err != nil
	})
	if got := claim(t, b, id, 0, 3); fmt.Sprint(got) != "[2 3 4]" {
		t.Fatalf("b claimed %v", got)
	}
	outs := ledger.Batch{Outcomes: []ledger.Outcome{sent(2), sent(3), sent(4)}}
	if err := a.Apply(ctx, id, outs, time.Now()); !errors.Is(err, ErrFenced) {
		t.Fatalf("stale worker's Apply: %v, want ErrFenced", err)
	}
	a.mu.Lock()
	a.validUntil = time.Now().Add(time.Hour) // a clock that does not know
	a.mu.Unlock()
	if err := a.Apply(ctx, id, outs, time.Now()); !errors.Is(err, ErrFenced) {
		t.Fatalf("stale worker's Apply past its own check: %v, want ErrFenced from the rows", err)
	}
	if c, _ := b.Counts(ctx, id); c.Sent != 0 || c.InFlight != 3 {
		t.Fatalf("counts %+v: the fenced writes changed something", c)
	}
	if err := a.renewOnce(ctx); !errors.Is(err, ErrFenced) {
		t.Fatalf("renewing a lapsed lease: %v, want ErrFenced", err)
	}
	if err := b.Apply(ctx, id, outs, time.Now()); err != nil {
		t.Fatalf("the new owner's Apply: %v", err)
	}
}

// Workers opening a new database at once: one applies the migrations,
// the others wait for it and find nothing left to do.
func TestOpensRaceOnMigrations(t *testing.T) {
	url := pgtest.Start(t)
	var wg sync.WaitGroup
	stores := make([]*Store, 4)
	errs := make([]error, 4)
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = Open(context.Background(), url, Options{})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	list, _ := readMigrations()
	var n int
	if err := stores[0].pool.QueryRow(context.Background(), `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != len(list) {
		t.Fatalf("schema_migrations has %d rows (%v), want %d", n, err, len(list))
	}
	if err := stores[1].Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	// A database a newer mailblast migrated is refused.
	if _, err := stores[0].pool.Exec(context.Background(), `INSERT INTO schema_migrations (version, name) VALUES (9999, 'future')`); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), url, Options{}); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("open of a newer schema: %v", err)
	}
}

// The password comes from the password file or PGPASSWORD, and no error
// shows it, not even a wrong one given in the URL.
func TestPasswordNeverInErrors(t *testing.T) {
	url, pw := pgtest.StartWithPassword(t)
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(file, []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PGPASSWORD", "")
	t.Setenv("PGPASSFILE", filepath.Join(t.TempDir(), "none"))
	s := open(t, url, Options{PasswordFile: file})
	if _, err := s.Campaigns(ctx); err != nil {
		t.Fatal(err)
	}
	wrong := "Wr0ngSecret-" + pw[:4]
	if err := os.WriteFile(file, []byte(wrong), 0o600); err != nil {
		t.Fatal(err)
	}
	withPW := strings.Replace(url, "@", ":"+wrong+"@", 1)
	for _, try := range []struct {
		url  string
		file string
	}{{url, file}, {withPW, ""}, {withPW + "&connect_timeout=x", ""}} {
		_, err := Open(ctx, try.url, Options{PasswordFile: try.file})
		if err == nil || strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), pw) {
			t.Fatalf("open with a wrong password: %v", err)
		}
	}
	t.Setenv("PGPASSWORD", pw)
	open(t, url, Options{})
}

// Heartbeats show the fleet; a worker gone (its lease released) is not
// live.
func TestWorkers(t *testing.T) {
	url := pgtest.Start(t)
	ctx := context.Background()
	a := open(t, url, Options{Worker: "h1:1:a"})
	b, err := Open(ctx, url, Options{Worker: "h2:2:b"})
	if err != nil {
		t.Fatal(err)
	}
	id := newCampaign(t, a, 1)
	for _, x := range []struct {
		s *Store
		w ledger.Worker
	}{{a, ledger.Worker{Host: "h1", PID: 1, Claimed: 5, Rate: 10, Pace: 1}}, {b, ledger.Worker{Host: "h2", PID: 2, Rate: 3, Pace: 0.5}}} {
		if err := x.s.Heartbeat(ctx, id, x.w); err != nil {
			t.Fatal(err)
		}
	}
	_ = b.Close()
	ws, err := a.Workers(ctx, id)
	if err != nil || len(ws) != 2 {
		t.Fatal(ws, err)
	}
	if w := ws[0]; w.ID != "h1:1:a" || !w.Live || w.Claimed != 5 || w.Rate != 10 || w.LastHeartbeat.IsZero() {
		t.Errorf("first worker %+v", w)
	}
	if w := ws[1]; w.ID != "h2:2:b" || w.Live || w.Pace != 0.5 {
		t.Errorf("second worker %+v: want it not live after Close", w)
	}
}

// One worker imports a campaign at a time: another's Import fails at once
// with an error that says so (ImportBusy), and succeeds once the first
// committed; a Store closed with an import open releases it.
func TestImportBusy(t *testing.T) {
	url := pgtest.Start(t)
	ctx := context.Background()
	a, b := open(t, url, Options{}), open(t, url, Options{})
	c := ledger.Campaign{Name: "busy", ListPath: "l.csv", Settings: []byte(`{}`)}
	if err := a.CreateCampaign(ctx, &c); err != nil {
		t.Fatal(err)
	}
	im, err := a.Import(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	var busy interface{ ImportBusy() bool }
	if _, err := b.Import(ctx, c.ID); !errors.As(err, &busy) || !busy.ImportBusy() {
		t.Fatalf("a second import at once: %v, want ImportBusy", err)
	}
	if err := im.Add(ledger.Recipient{Row: 2, Email: "a@example.com", Key: "a@example.com"}); err != nil {
		t.Fatal(err)
	}
	if err := im.Commit(); err != nil {
		t.Fatal(err)
	}
	im2, err := b.Import(ctx, c.ID)
	if err != nil {
		t.Fatalf("after the first import committed: %v", err)
	}
	if err := im2.Add(ledger.Recipient{Row: 3, Email: "b@example.com", Key: "b@example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := im2.Flush(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Close() }() // im2 left open
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Close with an import open did not return within 20 s")
	}
	if _, err := a.Import(ctx, c.ID); err != nil {
		t.Fatalf("after the importer closed: %v", err)
	}
	if last, _ := a.LastRow(ctx, c.ID); last != 3 {
		t.Fatalf("last row %d, want 3", last)
	}
}

// A worker restarted on the same machine knows, from its journal, which of
// its predecessor's claimed rows were on the wire (Options.Succeeds): it
// takes them over at once, without waiting for the lease, and only those
// count as in flight; the others wait again uncounted. A recovery without
// the journal later (each pass's) keeps what it learnt.
func TestPredecessorsWire(t *testing.T) {
	url := pgtest.Start(t)
	ctx := context.Background()
	a := open(t, url, Options{})
	b := open(t, url, Options{Succeeds: func(w string) bool { return w == a.Worker() }})
	other := open(t, url, Options{Lease: 1500 * time.Millisecond})
	id := newCampaign(t, a, 20)
	claim(t, a, id, 0, 5)     // rows 2-6 in flight
	claim(t, other, id, 6, 3) // rows 7-9, another worker's
	a.kill()
	n, err := b.RecoverOnWire(ctx, id, ledger.Skip, time.Now(), map[int]bool{3: true, 4: true, 8: true})
	if n != 2 || err != nil {
		t.Fatalf("recovered %d (%v), want rows 3 and 4 at once", n, err)
	}
	if d, _ := b.Due(ctx, id, time.Now(), 0, 3); fmt.Sprint(rowsOf(d)) != "[2 5 6]" {
		t.Fatalf("due %v, want the predecessor's rows never on the wire", rowsOf(d))
	}
	other.kill()
	if n, err := b.RecoverInFlight(ctx, id, ledger.Skip, time.Now()); n != 0 || err != nil {
		t.Fatalf("a pass's recovery before the other's lease lapsed: %d %v", n, err)
	}
	waitFor(t, "the other worker's rows taken over", func() bool {
		c, err := b.Counts(ctx, id)
		_, _ = b.Due(ctx, id, time.Now(), 0, 1)
		return err == nil && c.Recovered == 5
	})
	c, _ := b.Counts(ctx, id)
	if c.Skipped != 5 || c.InFlight != 0 {
		t.Fatalf("counts %+v: want rows 3, 4 and all three of the other worker's skipped as in flight", c)
	}
}

func TestSameHostExited(t *testing.T) {
	host, _ := os.Hostname()
	for w, want := range map[string]bool{
		fmt.Sprintf("%s:%d:x", host, os.Getpid()): false, // this process
		fmt.Sprintf("%s:%d:x", host, 1):           false, // init runs
		fmt.Sprintf("other-%s:99999999:x", host):  false,
		fmt.Sprintf("%s:99999999:x", host):        true, // no such pid
		"nonsense":                                false,
	} {
		if got := SameHostExited(w); got != want {
			t.Errorf("SameHostExited(%q) = %v, want %v", w, got, want)
		}
	}
}
