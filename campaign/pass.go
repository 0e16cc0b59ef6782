package campaign

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/sender"
	"github.com/mailblast/mailblast/templates"
)

// job is one recipient on its way through a pass.
type job struct {
	rec    ledger.Recipient
	fields map[string]string
	mid    string
	env    sender.Envelope
}

// pass sends every row due now. It owns the producer, the renderers and
// the committer and returns only when all have exited.
func (r *run) pass(ctx, hard context.Context) error {
	soft, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	hard, stopGrace := r.grace(ctx, hard)
	defer stopGrace()

	com := newCommitter(r.store, r.c.ID, r.opts, cancel)
	comDone := make(chan error, 1)
	go func() { comDone <- com.run() }()

	conns := max(r.opts.Settings.SMTP.Connections, 1)
	jobs := make(chan *job, 2*conns)
	envs := make(chan *sender.Envelope, 2*conns)
	var wg sync.WaitGroup
	var prodErr error
	wg.Go(func() {
		defer close(jobs)
		prodErr = r.produce(soft, com, jobs, 2*conns)
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
	return r.passError(ctx, prodErr, poolErr, comErr)
}

func (r *run) passError(ctx context.Context, prodErr, poolErr, comErr error) error {
	switch {
	case comErr != nil:
		return comErr
	case poolErr != nil:
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
func (r *run) produce(ctx context.Context, com *committer, jobs chan<- *job, chunk int) error {
	now := r.opts.now()
	cursor := 0
	for {
		due, err := r.store.Due(ctx, r.c.ID, now, cursor, 512)
		if err != nil || len(due) == 0 {
			return err
		}
		for i := 0; i < len(due); i += chunk {
			if err := r.produceChunk(ctx, com, jobs, due[i:min(i+chunk, len(due))]); err != nil {
				return err
			}
		}
		cursor = due[len(due)-1].Row
	}
}

func (r *run) produceChunk(ctx context.Context, com *committer, jobs chan<- *job, due []ledger.Recipient) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	js := make([]*job, 0, len(due))
	claims := make([]ledger.Claim, 0, len(due))
	for _, rec := range due {
		row, err := r.list.ReadAt(rec.Offset, rec.Row)
		if err != nil {
			return err
		}
		if row.Email != rec.Email {
			return fmt.Errorf("%w: row %d holds %q, the ledger has %q", ErrListChanged, rec.Row, row.Email, rec.Email)
		}
		j := &job{rec: rec, fields: row.Fields, mid: r.messageID(rec)}
		js = append(js, j)
		claims = append(claims, ledger.Claim{Row: rec.Row, MessageID: j.mid})
	}
	if err := com.claim(ctx, claims); err != nil {
		return err
	}
	for i, j := range js {
		select {
		case jobs <- j:
		case <-ctx.Done():
			for _, j := range js[i:] {
				com.outcome(r.released(j))
			}
			return ctx.Err()
		}
	}
	return nil
}

func (r *run) render(ctx context.Context, com *committer, jobs <-chan *job, envs chan<- *sender.Envelope) {
	for j := range jobs {
		if ctx.Err() != nil {
			com.outcome(r.released(j))
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

func (r *run) build(j *job) error {
	from, err := r.tmpl.FromAddress(j.fields)
	if err != nil {
		return err
	}
	data, err := r.tmpl.Render(j.fields, templates.Envelope{To: j.rec.Email, MessageID: j.mid, Date: r.opts.now()})
	if err != nil {
		return err
	}
	j.env = sender.Envelope{ID: j.rec.Row, Tag: j, From: from, To: j.rec.Email, Data: data}
	return nil
}
