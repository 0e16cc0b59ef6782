package campaign

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/sender"
)

// beatEvery is how often a worker on a shared ledger says it is alive and
// looks at the others: the rate split and a throttle seen by one worker
// reach every worker within about this time.
const beatEvery = 2 * time.Second

// liveFor: a worker whose last heartbeat is older than this, by the
// newest heartbeat of the campaign (the database's clock, not this
// machine's), is taken for gone and its share of the rate goes to the rest.
const liveFor = 3*beatEvery + time.Second

// fleet is this run's part in a campaign that several workers send from
// one shared ledger (a ledger.Fleet): it beats, splits the campaign's
// rate by the live workers, and slows down with any of them that its relay
// throttles. Its counters are atomics, written by the senders.
type fleet struct {
	store   ledger.Fleet
	id      int64
	me      ledger.Worker
	group   *sender.Group
	logf    func(format string, args ...any)
	onWire  atomic.Int64 // messages on a connection, no outcome yet
	sent    atomic.Int64 // accepted since the start
	workers int          // live workers at the last look, for the log
	paced   bool         // some relay has a rate to share out

	// The producer's alone (chunk): the sending rate it sizes chunks by.
	rateAt   time.Time
	rateSent int64
	rate     float64
}

// startFleet starts the heartbeat when the ledger is shared, and returns
// the function that stops it and waits for it.
func (r *run) startFleet(ctx context.Context) func() {
	fs, ok := r.store.(ledger.Fleet)
	if !ok {
		return func() {}
	}
	host, _ := os.Hostname()
	f := &fleet{store: fs, id: r.c.ID, group: r.pool, logf: r.logf, paced: paced(r.opts.Settings),
		me: ledger.Worker{ID: workerID(r.store, host), Host: host, PID: os.Getpid(), Pace: 1}}
	r.fleet = f
	r.nameWorker(f.me.ID)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { f.run(ctx) })
	return func() { cancel(); wg.Wait() }
}

// paced reports whether any relay of s has a rate the workers share.
func paced(s Settings) bool {
	if len(s.Relays) == 0 {
		return s.SMTP.Rate > 0
	}
	for _, r := range s.Relays {
		if r.Rate > 0 {
			return true
		}
	}
	return false
}

// workerID is the name the shared ledger knows this process by (its
// lease), so that its heartbeat and its claims are one worker.
func workerID(store ledger.Store, host string) string {
	if w, ok := store.(interface{ Worker() string }); ok {
		return w.Worker()
	}
	return fmt.Sprintf("%s:%d", host, os.Getpid())
}

func (f *fleet) run(ctx context.Context) {
	t := time.NewTicker(beatEvery)
	defer t.Stop()
	last, lastSent := time.Now(), int64(0)
	for {
		f.beat(ctx)
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			sent := f.sent.Load()
			f.me.Rate = float64(sent-lastSent) / now.Sub(last).Seconds()
			last, lastSent = now, sent
		}
	}
}

// beat records this worker and paces it by the others. A failed beat is
// logged and tried again at the next: the outcome writes, fenced, are what
// keeps two workers off one row; the heartbeat only shares the rate.
func (f *fleet) beat(ctx context.Context) {
	f.me.Claimed = int(f.onWire.Load())
	f.me.Pace = f.group.Pace()
	if err := f.store.Heartbeat(ctx, f.id, f.me); err != nil {
		if ctx.Err() == nil {
			f.logf("heartbeat: %v", err)
		}
		return
	}
	all, err := f.store.Workers(ctx, f.id)
	if err != nil {
		if ctx.Err() == nil {
			f.logf("workers: %v", err)
		}
		return
	}
	n, pace := share(f.me.ID, all)
	f.group.Scale(pace / float64(n))
	if n != f.workers && (n > 1 || f.workers > 1) { // alone from the start: nothing to say
		share := ""
		if f.paced {
			share = fmt.Sprintf(": each takes 1/%d of its relays' rate", n)
		}
		f.logf("%d workers send this campaign%s", n, share)
	}
	f.workers = n
}

// share is how many workers are live, this one included, and the
// slowest pace among the others: a throttle one of them met slows all.
func share(me string, all []ledger.Worker) (int, float64) {
	live := Live(all)
	n, pace := 1, 1.0
	for _, w := range all {
		if w.ID == me || !live[w.ID] {
			continue
		}
		n++
		if w.Pace > 0 {
			pace = min(pace, w.Pace)
		}
	}
	return n, pace
}

// wire and settled count this worker's messages on the wire and sent,
// for its heartbeat. Both are safe on a nil fleet (an unshared ledger).
func (f *fleet) wire() {
	if f != nil {
		f.onWire.Add(1)
	}
}

func (f *fleet) settled(sent bool) {
	if f == nil {
		return
	}
	f.onWire.Add(-1)
	if sent {
		f.sent.Add(1)
	}
}

// Live tells the live workers of a campaign from the gone: those whose
// last heartbeat is within liveFor of the newest. Comparing heartbeats,
// all stamped by the database, leaves the machines' clocks out of it.
func Live(all []ledger.Worker) map[string]bool {
	var newest time.Time
	for _, w := range all {
		if w.LastHeartbeat.After(newest) {
			newest = w.LastHeartbeat
		}
	}
	live := make(map[string]bool, len(all))
	for _, w := range all {
		live[w.ID] = newest.Sub(w.LastHeartbeat) <= liveFor
	}
	return live
}

// nameWorker writes, beside this state directory's wire journal of the
// campaign, the worker that will write it. After a crash the next run
// from this directory gives the ledger the journal, and RanHere tells the
// ledger which dead worker's claims that journal speaks for: only its rows
// on the wire are in flight, not every row it had claimed. Without the
// file, all of them are (the safe side).
func (r *run) nameWorker(id string) {
	path := journalPath(r.opts.StateDir, r.opts.Name) + ".worker"
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		r.logf("%v: after a crash, every row this worker claimed will count as in flight", err)
	}
}

// RanHere reports whether worker (a shared ledger's worker name) last sent
// a campaign from stateDir: its wire journal there is that worker's.
func RanHere(stateDir, worker string) bool {
	files, _ := filepath.Glob(filepath.Join(stateDir, "campaign-*.wire.worker"))
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && strings.TrimSpace(string(b)) == worker {
			return true
		}
	}
	return false
}

// chunkTime is how much of this worker's sending one claim covers. When a
// worker dies on a shared ledger no journal of it is at hand, and every row
// it had claimed counts as in flight: about three chunks. Sized by time, a
// chunk is a few rows for a slow relay (never fewer than least, a few per
// connection) and up to maxChunk rows at full speed, where a claim per few
// rows would cost more round trips than the sending.
const (
	chunkTime = 100 * time.Millisecond
	maxChunk  = 256
)

// chunk is how many rows the next claim takes; least on an unshared
// ledger (nil fleet), where the wire journal speaks for a crashed run.
func (f *fleet) chunk(least int) int {
	if f == nil {
		return least
	}
	now, sent := time.Now(), f.sent.Load()
	if d := now.Sub(f.rateAt); d >= chunkTime {
		if !f.rateAt.IsZero() {
			f.rate = float64(sent-f.rateSent) / d.Seconds()
		}
		f.rateAt, f.rateSent = now, sent
	}
	return min(max(least, int(f.rate*chunkTime.Seconds())), max(least, maxChunk))
}
