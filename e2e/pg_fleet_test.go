package e2e

import (
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailblast/mailblast/ledger/postgres/pgtest"
	"github.com/mailblast/mailblast/sender/sendertest"
)

// relay20ms is a relay that takes 20 ms per message, like one across a
// network: the relay, not the ledger, is what limits a worker.
func relay20ms(t *testing.T) *sendertest.Server {
	return sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{
		Data: func([]string, []byte) *smtp.SMTPError { time.Sleep(20 * time.Millisecond); return nil },
	}})
}

// checkOnceOutsideInFlight: every row reached the relay, and a row that
// reached it more than once is one the ledger reported in flight at a
// worker's death (recovered), never another.
func checkOnceOutsideInFlight(t *testing.T, w *workspace, srv *sendertest.Server, rows int) int {
	t.Helper()
	dups := checkDelivered(t, w, srv.ByRecipient(), rows)
	rep := w.report()
	for addr, n := range dups {
		if rep[addr].Recovered == 0 {
			t.Errorf("%s got %d copies but was never reported in flight", addr, n)
		}
	}
	if s := w.status(); s.Recovered < len(dups) {
		t.Errorf("status reports %d recovered in-flight rows, %d recipients had duplicates", s.Recovered, len(dups))
	}
	return len(dups)
}

func TestPGExactlyOnce(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := pgFleet(t, srv, 1, 500)[0]
	w.mustRun(0, "send", "list.csv", "--connections", "4")
	if dups := checkDelivered(t, w, srv.ByRecipient(), 500); len(dups) > 0 {
		t.Errorf("duplicates: %v", dups)
	}
	s := w.fleetStatus()
	if !s.Finished || s.Sent != 500 || s.Inflight != 0 {
		t.Errorf("status %+v", s.status)
	}
	if len(s.Workers) != 1 || s.Workers[0].PID == 0 {
		t.Errorf("status lists workers %+v, want the one that ran", s.Workers)
	}
	// A second send of the same campaign on the same ledger sends nothing.
	w.mustRun(0, "send", "list.csv")
	if got := srv.Count(); got != 500 {
		t.Errorf("relay got %d messages after a second send, want 500", got)
	}
}

func TestPGKillNineThenResume(t *testing.T) {
	const rows = 400
	srv := relay20ms(t)
	w := pgFleet(t, srv, 1, rows)[0]
	code := w.signalWhen(syscall.SIGKILL, func() bool { return srv.Count() >= 80 }, "send", "list.csv", "--connections", "4")
	if code != -int(syscall.SIGKILL) {
		t.Fatalf("the run ended by itself (exit %d) before the kill", code)
	}
	// The dead worker's claims are its own until its lease lapses.
	time.Sleep(3 * time.Second)
	w.mustRun(0, "resume")
	n := checkOnceOutsideInFlight(t, w, srv, rows)
	// resume runs from the dead worker's state directory: its wire journal
	// says which of the rows it had claimed were on the wire (at most one
	// and a look-ahead per connection), and only those count as in flight.
	rec := w.status().Recovered
	if rec > 12 {
		t.Errorf("%d rows reported in flight after one kill -9 with 4 connections; want those on the wire only", rec)
	}
	t.Logf("%d duplicates after kill -9, %d recovered", n, rec)
}

func TestPGSecondSignal(t *testing.T) {
	slow := make(chan struct{})
	srv := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{
		Data: func([]string, []byte) *smtp.SMTPError {
			select {
			case <-slow:
			case <-time.After(3 * time.Second):
			}
			return nil
		},
	}})
	w := pgFleet(t, srv, 1, 40)[0]
	p := w.start("send", "list.csv", "--connections", "4")
	time.Sleep(1500 * time.Millisecond) // the first messages are now stuck in DATA
	p.cmd.Process.Signal(syscall.SIGINT)
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGINT)
	if code := p.wait(t); code != 130 {
		t.Fatalf("exit %d, want 130; %s", code, p.err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("second signal took %s to stop the run", took)
	}
	close(slow)
	time.Sleep(3 * time.Second) // its lease lapses, if Close did not give it up
	w.mustRun(0, "resume")
	checkOnceOutsideInFlight(t, w, srv, 40)
}

func TestPGRelayDownThenBack(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	srv.SetDown(true)
	time.AfterFunc(1500*time.Millisecond, func() { srv.SetDown(false) })
	w := pgFleet(t, srv, 1, 100)[0]
	w.env = append(w.env, "MAILBLAST_SMTP_BACKOFF=100ms", "MAILBLAST_SMTP_CONNECT_ATTEMPTS=20", "MAILBLAST_RETRY_SCHEDULE=100ms")
	w.mustRun(0, "send", "list.csv", "--connections", "3")
	assertLedgerMatchesServer(t, w, srv, 100)
}

// TestPGThreeWorkersOneKilled: three machines send one campaign; one is
// killed by kill -9 mid-way. The other two take its rows over once its
// lease lapses, and every row is sent once outside the in-flight set.
func TestPGThreeWorkersOneKilled(t *testing.T) {
	const rows = 600
	srv := relay20ms(t)
	ws := pgFleet(t, srv, 3, rows)
	args := []string{"send", "list.csv", "--campaign", "news", "--connections", "2", "--retry-wait", "1m"}
	ps := make([]*worker, 3)
	for i, w := range ws {
		ps[i] = w.start(args...)
	}
	deadline := time.Now().Add(60 * time.Second)
	for srv.Count() < 150 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	during := ws[0].fleetStatus()
	_ = ps[1].cmd.Process.Kill()
	if code := ps[1].wait(t); code != -int(syscall.SIGKILL) {
		t.Fatalf("worker 1 ended by itself (exit %d) before the kill: %s", code, ps[1].err)
	}
	for _, i := range []int{0, 2} {
		if code := ps[i].wait(t); code != 0 {
			t.Errorf("worker %d: exit %d\n%s", i, code, ps[i].err)
		}
	}
	live := 0
	for _, x := range during.Workers {
		if x.Live {
			live++
		}
	}
	if live != 3 {
		t.Errorf("status during the run showed %d live workers, want 3: %+v", live, during.Workers)
	}
	per := map[int]int{}
	for _, m := range srv.Messages() {
		per[m.Conn]++
	}
	n := checkOnceOutsideInFlight(t, ws[2], srv, rows)
	// No journal of the dead worker is at hand: every row it had claimed
	// counts as in flight, a few chunks (2 connections: 16 rows a chunk).
	rec := ws[2].status().Recovered
	if rec > 80 {
		t.Errorf("%d rows reported in flight after one worker of three was killed; want a few chunks", rec)
	}
	t.Logf("%d duplicates, %d recovered; messages per connection %v", n, rec, per)
}

// TestPGFleetRate: three workers with smtp.rate 30/s keep to 30/s
// together, not 30/s each.
func TestPGFleetRate(t *testing.T) {
	const rows, perSecond = 180, 30
	var mu sync.Mutex
	var at []time.Time
	srv := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{
		Data: func([]string, []byte) *smtp.SMTPError {
			mu.Lock()
			at = append(at, time.Now())
			mu.Unlock()
			return nil
		},
	}})
	ws := pgFleet(t, srv, 3, rows)
	ps := make([]*worker, 3)
	for i, w := range ws {
		w.env = append(w.env, fmt.Sprintf("MAILBLAST_SMTP_RATE=%d/s", perSecond))
		ps[i] = w.start("send", "list.csv", "--campaign", "paced", "--connections", "2", "--retry-wait", "1m")
	}
	for i, p := range ps {
		if code := p.wait(t); code != 0 {
			t.Fatalf("worker %d: exit %d\n%s", i, code, p.err)
		}
	}
	assertLedgerMatchesServer(t, ws[0], srv, rows)
	mu.Lock()
	defer mu.Unlock()
	took := at[len(at)-1].Sub(at[0])
	// 180 at 30/s take 6 s; 30/s each would take 2 s. Until the workers
	// have seen each other (one heartbeat, 2 s) each may go at the full
	// rate: the steady part after that is held to the rate.
	if took < 3500*time.Millisecond {
		t.Errorf("%d messages took %s: faster than %d/s for the fleet", rows, took, perSecond)
	}
	steadyFrom := at[0].Add(3 * time.Second)
	n := 0
	for _, x := range at {
		if x.After(steadyFrom) {
			n++
		}
	}
	if secs := at[len(at)-1].Sub(steadyFrom).Seconds(); secs > 1 && float64(n)/secs > 1.4*perSecond {
		t.Errorf("after the first heartbeats the fleet sent %.1f/s, over %d/s", float64(n)/secs, perSecond)
	}
	t.Logf("%d messages in %s", rows, took.Round(time.Millisecond))
}

// TestPGDigestMismatch: a worker whose list or template is not the
// campaign's is refused with 65, naming the file and both digests, and
// sends nothing.
func TestPGDigestMismatch(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	ws := pgFleet(t, srv, 3, 5)
	ws[0].mustRun(0, "send", "list.csv", "--campaign", "news")
	ws[1].write("list.csv", "email,first_name,n\nuser1@example.com,Other,1\n")
	ws[2].write("message.tmpl", template+"P.S. another template\n")
	for i, kind := range map[int]string{1: "list", 2: "template"} {
		_, stderr, code := ws[i].run("send", "list.csv", "--campaign", "news")
		if code != 65 {
			t.Fatalf("worker with another %s: exit %d, want 65\n%s", kind, code, stderr)
		}
		if !strings.Contains(stderr, "another "+kind) || strings.Count(stderr, "sha256") < 1 {
			t.Errorf("worker with another %s: message does not name it and its digests:\n%s", kind, stderr)
		}
	}
	if got := srv.Count(); got != 5 {
		t.Errorf("relay got %d messages, want the first worker's 5", got)
	}
}

// TestPGThrottleSlowsTheFleet: two workers, each with its own relay, share
// smtp.rate 80/s. When worker A's relay throttles (421 4.7.0), worker B,
// whose relay never does, slows down too within a few seconds.
func TestPGThrottleSlowsTheFleet(t *testing.T) {
	const rows, throttleAt = 1000, 300
	var mu sync.Mutex
	var onB []time.Time
	var throttled time.Time
	n := 0
	relayA := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{
		Data: func([]string, []byte) *smtp.SMTPError {
			mu.Lock()
			defer mu.Unlock()
			if n++; n == throttleAt {
				throttled = time.Now()
				return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "slow down"}
			}
			return nil
		},
	}})
	relayB := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{
		Data: func([]string, []byte) *smtp.SMTPError {
			mu.Lock()
			onB = append(onB, time.Now())
			mu.Unlock()
			return nil
		},
	}})
	url := pgtest.Start(t)
	a, b := onPostgres(forServer(t, relayA, rows), url), onPostgres(forServer(t, relayB, rows), url)
	a.env = append(a.env, "MAILBLAST_RETRY_SCHEDULE=1s") // the throttled message goes again
	for _, w := range []*workspace{a, b} {
		w.env = append(w.env, "MAILBLAST_SMTP_THROTTLE_RECOVER=1m") // no recovery while B is measured
	}
	args := []string{"send", "list.csv", "--campaign", "throttled", "--connections", "2", "--rate", "80/s", "--retry-wait", "1m"}
	pa, pb := a.start(args...), b.start(args...)
	for i, p := range []*worker{pa, pb} {
		if code := p.wait(t); code != 0 {
			t.Fatalf("worker %d: exit %d\n%s", i, code, p.err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if throttled.IsZero() {
		t.Fatalf("relay A never reached its %dth message", throttleAt)
	}
	rate := func(from, to time.Time) float64 {
		k := 0
		for _, x := range onB {
			if x.After(from) && x.Before(to) {
				k++
			}
		}
		return float64(k) / to.Sub(from).Seconds()
	}
	before := rate(throttled.Add(-2*time.Second), throttled)
	after := rate(throttled.Add(3*time.Second), throttled.Add(8*time.Second))
	t.Logf("worker B's relay: %.1f/s before A's throttle, %.1f/s 3-8 s after", before, after)
	if after > 0.75*before {
		t.Errorf("worker B did not slow down with A: %.1f/s before, %.1f/s after", before, after)
	}
}

// TestPGJoinMidway: a second worker joins a campaign the first is in the
// middle of sending (its list imported, most rows not sent yet). They
// share the rest: each recipient gets exactly one message, and both end 0.
func TestPGJoinMidway(t *testing.T) {
	const rows = 400
	srv := relay20ms(t)
	ws := pgFleet(t, srv, 2, rows)
	args := []string{"send", "list.csv", "--campaign", "midway", "--connections", "2", "--retry-wait", "1m"}
	first := ws[0].start(args...)
	deadline := time.Now().Add(60 * time.Second)
	for srv.Count() < 40 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	second := ws[1].start(args...)
	for i, p := range []*worker{first, second} {
		if code := p.wait(t); code != 0 {
			t.Errorf("worker %d: exit %d\n%s", i, code, p.err)
		}
	}
	if dups := checkDelivered(t, ws[1], srv.ByRecipient(), rows); len(dups) > 0 {
		t.Errorf("%d recipients got more than one message: %v", len(dups), dups)
	}
	per := map[int]int{}
	for _, m := range srv.Messages() {
		per[m.Conn]++
	}
	if len(per) < 4 {
		t.Errorf("messages came on %d connections; the second worker sent nothing? %v", len(per), per)
	}
}

// TestPGFencedWorkerStops: a worker paused for longer than its lease (as
// by a partition) finds, when it wakes, that another worker has taken its
// rows over: it stops with exit 75 and says why, recording nothing over
// the other's rows. Everyone is still mailed, duplicates only among the
// rows reported in flight.
func TestPGFencedWorkerStops(t *testing.T) {
	const rows = 300
	srv := relay20ms(t)
	ws := pgFleet(t, srv, 2, rows)
	args := []string{"send", "list.csv", "--campaign", "fenced", "--connections", "2", "--retry-wait", "1m"}
	a := ws[0].start(args...)
	deadline := time.Now().Add(60 * time.Second)
	for srv.Count() < 40 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	_ = a.cmd.Process.Signal(syscall.SIGSTOP)
	time.Sleep(4 * time.Second) // twice the lease
	b := ws[1].start(args...)
	for srv.Count() < 120 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	_ = a.cmd.Process.Signal(syscall.SIGCONT)
	if code := a.wait(t); code != 75 || !strings.Contains(a.err.String(), "resume") {
		t.Errorf("the paused worker: exit %d, want 75 with what to do\n%s", code, a.err)
	}
	if code := b.wait(t); code != 0 {
		t.Errorf("the other worker: exit %d\n%s", code, b.err)
	}
	t.Logf("the paused worker said:\n%s", a.err)
	checkOnceOutsideInFlight(t, ws[1], srv, rows)
}
