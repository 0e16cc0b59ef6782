package campaign

import (
	"context"
	"fmt"
	"time"

	"github.com/mailblast/mailblast/ledger"
)

// committer owns every ledger write of a pass. It commits whatever has
// queued up while the previous commit ran: one transaction (one fsync) per
// batch, however many messages finished meanwhile. An outcome is reported
// only after its transaction commits.
type committer struct {
	store  ledger.Store
	id     int64
	opts   *Options
	ops    chan op
	cancel context.CancelCauseFunc
	// sent counts the Sent outcomes committed; read once run has returned.
	sent int
}

type op struct {
	claims []ledger.Claim
	done   chan error
	p      pending
}

func newCommitter(store ledger.Store, id int64, opts *Options, cancel context.CancelCauseFunc) *committer {
	return &committer{store: store, id: id, opts: opts, ops: make(chan op, 4096), cancel: cancel}
}

// claimAsync records rows in flight; the channel gets the commit's result.
func (c *committer) claimAsync(claims []ledger.Claim) chan error {
	done := make(chan error, 1)
	c.ops <- op{claims: claims, done: done}
	return done
}

func (c *committer) outcome(p pending) { c.ops <- op{p: p} }

// close ends the stream of ops; run returns after committing the rest.
func (c *committer) close() { close(c.ops) }

// commitGap is the least time from one commit's start to the next. A
// commit costs an fsync and a fixed share of statements however few rows
// it holds; at loopback speed the gap gathers about a hundred outcomes
// into each, and a crash can leave at most a gap's worth of delivered
// messages unrecorded. The producer claims a chunk ahead, so a claim
// waiting out the gap costs no throughput.
const commitGap = 4 * time.Millisecond

func (c *committer) run() error {
	var failed error
	batch := make([]op, 0, 1024)
	var last time.Time
	for first := range c.ops {
		if wait := commitGap - time.Since(last); wait > 0 {
			time.Sleep(wait)
		}
		last = time.Now()
		batch = append(batch[:0], first)
		batch = c.drain(batch)
		if failed == nil {
			if failed = c.commit(batch); failed != nil {
				c.cancel(failed)
			}
		}
		c.notify(batch, failed)
	}
	if failed == nil {
		failed = c.store.Apply(context.Background(), c.id, ledger.Batch{Settled: true}, c.opts.now())
	}
	return failed
}

func (c *committer) drain(batch []op) []op {
	for len(batch) < cap(batch) {
		select {
		case o, ok := <-c.ops:
			if !ok {
				return batch
			}
			batch = append(batch, o)
		default:
			return batch
		}
	}
	return batch
}

func (c *committer) commit(batch []op) error {
	var b ledger.Batch
	for _, o := range batch {
		if o.done != nil {
			b.Claims = append(b.Claims, o.claims...)
		} else {
			b.Outcomes = append(b.Outcomes, o.p.out)
		}
	}
	// The batch must land even when the run is being interrupted.
	if err := c.store.Apply(context.Background(), c.id, b, c.opts.now()); err != nil {
		return fmt.Errorf("ledger write failed, stopping: %w", err)
	}
	return nil
}

func (c *committer) notify(batch []op, failed error) {
	for _, o := range batch {
		if failed == nil && o.done == nil && o.p.out.State == ledger.Sent {
			c.sent++
		}
		switch {
		case o.done != nil:
			o.done <- failed
		case failed == nil && c.opts.Reporter != nil && (o.p.out.Attempted || o.p.out.State == ledger.Skipped):
			c.opts.Reporter.Outcome(o.p.out.State, o.p.out.Row, o.p.email, o.p.err)
		}
	}
}
