package campaign

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/mailblast/mailblast/feedback"
	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/sender"
)

// job is one recipient on its way through a pass.
type job struct {
	rec    ledger.Recipient
	fields map[string]string
	mid    string // Message-ID, set by build
	env    sender.Envelope
}

// pass sends every row due now. It owns the producer, the renderers and
// the committer and returns only when all have exited.
func (r *run) pass(ctx, hard context.Context) error {
	if r.exhausted(ctx) { // no relay has room under its quota: nothing to send
		return nil
	}
	soft, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	hard, stopGrace := r.grace(ctx, hard)
	defer stopGrace()

	com := newCommitter(r.quota.wrap(r.store), r.c.ID, r.opts, cancel)
	com.onSent = r.noteSent
	comDone := make(chan error, 1)
	go func() { comDone <- com.run() }()

	conns := max(r.opts.Settings.SMTP.Connections, 1)
	for _, rs := range r.opts.Settings.Relays {
		conns += rs.Connections
	}
	jobs := make(chan *job, r.chunk(conns)) // a chunk: the next one's Due and claim wait behind it
	envs := make(chan *sender.Envelope, 2*conns)
	var wg sync.WaitGroup
	var prodErr error
	wg.Go(func() {
		defer close(jobs)
		prodErr = r.produce(soft, com, jobs, r.chunk(conns))
	})
	var rwg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		rwg.Go(func() { r.render(soft, com, jobs, envs) })
	}
	wg.Go(func() { rwg.Wait(); close(envs) })

	poolErr := r.pool.Run(soft, hard, envs, func(res sender.Result) { com.outcome(r.outcome(res)) })
	if poolErr != nil {
		cancel(poolErr)
	}
	for env := range envs { // what the pool did not take goes back to the queue
		com.outcome(r.outcome(sender.Result{Env: env, Released: true}))
	}
	wg.Wait()
	com.close()
	comErr := <-comDone
	r.sum.SentNow += com.sent
	return r.passError(ctx, prodErr, poolErr, comErr)
}

func (r *run) passError(ctx context.Context, prodErr, poolErr, comErr error) error {
	switch {
	case comErr != nil:
		return comErr
	case poolErr != nil && !errors.Is(poolErr, sender.ErrQuota): // quota: rows wait, passes says how long
		return poolErr
	case prodErr != nil && !errors.Is(prodErr, context.Canceled):
		return prodErr
	case ctx.Err() != nil:
		return fmt.Errorf("%w: %w", ErrInterrupted, context.Cause(ctx))
	}
	return nil
}

// grace gives in-flight messages Options.Grace after an interrupt, then
// abandons them by ending the hard context.
func (r *run) grace(ctx, hard context.Context) (context.Context, func()) {
	h, cancel := context.WithCancel(hard)
	var mu sync.Mutex
	var t *time.Timer
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		t = time.AfterFunc(r.opts.Grace, cancel)
	})
	return h, func() {
		stop()
		mu.Lock()
		if t != nil {
			t.Stop()
		}
		mu.Unlock()
		cancel()
	}
}

// produce claims due rows in chunks (one group commit each) and hands
// them on. A row is in flight in the ledger before its message is built.
// The claim of the next chunk commits while this one is handed on, so the
// fsync is never on the critical path.
func (r *run) produce(ctx context.Context, com *committer, jobs chan<- *job, chunk int) error {
	src := &chunks{r: r, now: r.opts.now(), size: chunk, ledger: true}
	var prev *claimed
	for {
		src.size = r.fleet.chunk(chunk)
		js, err := src.next(ctx)
		if err == nil && len(js) > 0 {
			claim := ledger.Claim{First: js[0].rec.Row, Last: js[len(js)-1].rec.Row, DueAt: src.now}
			next := &claimed{js: js, done: com.claimAsync([]ledger.Claim{claim})}
			err = r.hand(ctx, com, jobs, prev)
			prev = next
			if err == nil {
				continue
			}
		}
		if err == nil {
			return r.hand(ctx, com, jobs, prev)
		}
		r.releaseAll(com, prev)
		return err
	}
}

// claimed is a chunk whose claim is committing.
type claimed struct {
	js   []*job
	done chan error
}

// chunks gives a pass its rows a chunk at a time, in row order: the rows
// due in the ledger, then, while this run imports the list, the rows the
// import commits, as it parsed them.
type chunks struct {
	r      *run
	now    time.Time
	size   int
	cursor int
	ledger bool       // still reading the ledger
	fresh  []freshRow // from the import, not handed out yet
}

func (c *chunks) next(ctx context.Context) ([]*job, error) {
	imp := c.r.imp
	streaming := imp != nil && !imp.streamed
	for c.ledger {
		due, err := c.r.store.Due(ctx, c.r.c.ID, c.now, c.cursor, c.size)
		if err != nil {
			return nil, err
		}
		if streaming { // the rows after imp.from come from the import
			due = due[:sort.Search(len(due), func(i int) bool { return due[i].Row > imp.from })]
		}
		if len(due) > 0 {
			c.cursor = due[len(due)-1].Row
			return c.r.jobsFor(due)
		}
		more, err := c.r.moreImported(ctx)
		if err != nil {
			return nil, err
		}
		c.ledger = more
	}
	if !streaming {
		return nil, nil
	}
	if len(c.fresh) == 0 {
		select {
		case b, ok := <-imp.fresh:
			if !ok {
				imp.streamed = true
				return nil, imp.wait(ctx, math.MaxInt) // the import's own error, if any
			}
			c.fresh = b
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	js := make([]*job, min(c.size, len(c.fresh)))
	for i, f := range c.fresh[:len(js)] {
		js[i] = &job{rec: f.rec, fields: f.fields}
	}
	c.fresh = c.fresh[len(js):]
	return js, nil
}

// jobsFor reads the rows Due gave back from the list.
func (r *run) jobsFor(due []ledger.Recipient) ([]*job, error) {
	js := make([]*job, 0, len(due))
	for _, rec := range due {
		row, err := r.list.ReadAt(rec.Offset, rec.Row)
		if err != nil {
			return nil, err
		}
		if ledgerAddress(row.Email) != rec.Email {
			return nil, fmt.Errorf("%w: row %d holds %q, the ledger has %q", ErrListChanged, rec.Row, row.Email, rec.Email)
		}
		js = append(js, &job{rec: rec, fields: row.Fields})
	}
	return js, nil
}

// hand waits for a chunk's claim to commit and passes its jobs on. If the
// run stops first, the chunk's rows are released.
func (r *run) hand(ctx context.Context, com *committer, jobs chan<- *job, c *claimed) error {
	if c == nil {
		return nil
	}
	if err := <-c.done; err != nil {
		return err
	}
	for i, j := range c.js {
		select {
		case jobs <- j:
		case <-ctx.Done():
			for _, j := range c.js[i:] {
				com.outcome(r.released(j))
			}
			return ctx.Err()
		}
	}
	return nil
}

// releaseAll gives back a chunk that was claimed but never handed on.
func (r *run) releaseAll(com *committer, c *claimed) {
	if c == nil || <-c.done != nil {
		return
	}
	for _, j := range c.js {
		com.outcome(r.released(j))
	}
}

func (r *run) render(ctx context.Context, com *committer, jobs <-chan *job, envs chan<- *sender.Envelope) {
	for j := range jobs {
		if ctx.Err() != nil {
			com.outcome(r.released(j))
			continue
		}
		if r.heldBack(com, j) { // outside its send window: waits, pending
			continue
		}
		if why := r.suppressedNow(ctx, j); why != "" {
			com.outcome(outcomeFor(j, ledger.Outcome{Row: j.rec.Row, State: ledger.Skipped, Text: "suppressed: " + why}, nil))
			continue
		}
		if err := r.build(j); err != nil {
			com.outcome(outcomeFor(j, ledger.Outcome{Row: j.rec.Row, State: ledger.Skipped, Text: "not sent: " + err.Error()}, nil))
			continue
		}
		select {
		case envs <- &j.env:
		case <-ctx.Done():
			com.outcome(r.released(j))
		}
	}
}

// suppressedNow is why j's address was suppressed during this run, or "".
// A failed look-up sends the row: the suppression is applied at the next
// run's settle in any case.
func (r *run) suppressedNow(ctx context.Context, j *job) string {
	if r.supp == nil {
		return ""
	}
	why, err := r.supp.reason(ctx, j.rec.Key)
	if err != nil {
		r.logf("suppression list: %v", err)
	}
	return why
}

func (r *run) build(j *job) error {
	m, err := messageFor(r.tmpl, r.c, j.rec, j.fields, r.opts.now())
	if err != nil {
		return err
	}
	j.mid = m.ID
	j.env = sender.Envelope{ID: j.rec.Row, Tag: j, From: m.From, To: m.To, Data: m.Data, UTF8: j.rec.UTF8}
	if rp := r.opts.Settings.ReturnPath; rp != "" {
		j.env.EnvID = feedback.SignToken(r.verpKey, feedback.PurposeVERP, feedback.Target{CampaignID: r.c.ID, Row: j.rec.Row})
		j.env.From = verpAddress(rp, j.env.EnvID)
	}
	return nil
}
