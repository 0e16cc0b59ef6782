package campaign

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/sender"
)

// shared reports whether the ledger is one several workers share.
func (r *run) shared() bool {
	_, ok := r.store.(ledger.Fleet)
	return ok
}

// createOrJoin creates the campaign; on a shared ledger another worker
// may have created it since this one looked, and then this one joins it
// like any later worker: its files are checked against the campaign's.
func (r *run) createOrJoin(ctx context.Context) error {
	err := r.create(ctx)
	if err == nil || !r.shared() {
		return err
	}
	c, lerr := r.store.Campaign(ctx, r.opts.Name)
	if lerr != nil {
		return err // not a race: the create's own error says why
	}
	r.c, r.listRows, r.listStat = c, 0, nil
	return r.joined(ctx)
}

// joined checks a campaign that exists against this run's files and, when
// its import never finished, prepares to take it up.
func (r *run) joined(ctx context.Context) error {
	// A list edited with its size and mtime put back (touch -r) passes
	// the quick check. Once imported, the ledger holds each row's address
	// and every read of a row checks it; until then the rows still to be
	// imported are checked by nothing else: hash the list.
	if err := r.verify(!r.c.Imported); err != nil || r.c.Imported {
		return err
	}
	// An import that an interrupt or a crash stopped half-way.
	var err error
	r.listRows, r.listStat, err = r.prescan(ctx)
	return err
}

// importPoll is how often a worker waiting for another's import looks.
const importPoll = 250 * time.Millisecond

// importOrWait starts the list's import; on a shared ledger where another
// worker is importing, it waits for that import to end instead, and takes
// the import over if that worker went away before finishing it.
func (r *run) importOrWait(ctx context.Context) error {
	for said := false; ; said = true {
		err := r.startImport(ctx)
		if !importBusy(err) {
			return err
		}
		if !said {
			r.logf("another worker is importing the list; sending starts when it is done")
		}
		if err := sender.Sleep(ctx, importPoll); err != nil {
			return fmt.Errorf("%w: %w", ErrInterrupted, context.Cause(ctx))
		}
		c, err := r.store.Campaign(ctx, r.opts.Name)
		if err != nil {
			return err
		}
		if r.c = c; c.Imported {
			r.listStat = nil
			return nil
		}
	}
}

// importBusy reports whether err says another worker is importing the
// list: a shared ledger's Import fails so, with an error that has an
// ImportBusy method, instead of importing the same rows twice.
func importBusy(err error) bool {
	var b interface{ ImportBusy() bool }
	return errors.As(err, &b) && b.ImportBusy()
}

// differs names the difference between this worker's file and the one
// the campaign on the shared ledger was started with, by their digests:
// the paths may differ from machine to machine; the content may not.
func (r *run) differs(f checkedFile) error {
	mine, err := digest(f.path, true)
	if err != nil {
		return fmt.Errorf("campaign %q: %s: %w", r.c.Name, f.kind, err)
	}
	return fmt.Errorf("%w: campaign %q was started with another %s: this worker's %s has sha256 %.12s…, the campaign's (%s) has %.12s…; give every worker the same file",
		ErrListChanged, r.c.Name, f.kind, f.path, hashOf(mine), r.startedPath(f), hashOf(f.stored))
}

func (r *run) startedPath(f checkedFile) string {
	switch f.kind {
	case "list":
		return r.c.ListPath
	case "template":
		return r.c.TemplatePath
	}
	return "as started"
}

// chunk is how many rows a pass claims at a time (on a shared ledger, the
// least: fleet.chunk grows it with the sending rate).
func (r *run) chunk(conns int) int {
	if r.shared() {
		return max(16, 4*conns)
	}
	return max(256, 4*conns)
}

// moreImported waits, while a shared ledger's import goes on, for its
// next commit, and reports whether the pass should ask Due again. There the
// import does not stream its rows to the pass (every row a worker sends
// must be reserved by Due, or a worker that joins meanwhile reserves and
// sends the rows this one streams: a duplicate each). Once the import has
// ended, nothing more is coming; its error, if any, is returned.
func (r *run) moreImported(ctx context.Context) (bool, error) {
	m := r.imp
	if m == nil || !m.noStream {
		return false, nil
	}
	m.mu.Lock()
	done, err, changed := m.done, m.err, m.changed
	m.mu.Unlock()
	if err != nil || done {
		return false, err
	}
	select {
	case <-changed:
		return true, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// sharedLook is how often a worker on a shared ledger with nothing due
// looks again.
const sharedLook = 500 * time.Millisecond

// waitShared waits d on a shared ledger a little at a time: what is due
// next may be another worker's rows, due to this one only if that worker
// dies (its lease lapses), and when a live worker finishes them the
// campaign is done and this one can exit at once. A wait long enough to
// notice is said once a minute, not at every look.
func (r *run) waitShared(ctx context.Context, d time.Duration) error {
	if d >= 2*retryBatch && time.Since(r.waitSaid) >= time.Minute {
		r.logf("waiting up to %s for deferred recipients, or for other workers' rows should they stop", d.Round(time.Second))
		r.waitSaid = time.Now()
	}
	return sender.Sleep(ctx, min(d, sharedLook))
}
