package campaign

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"

	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/recipients"
)

// importing is the list's import into the ledger, running beside the first
// pass so that sending starts after the first few thousand rows instead of
// after the last. The whole list has been read once before (prescan), so
// only the disk, an interrupt or the list changing under it (unchanged)
// can stop the import half-way, and the next run takes it up where it
// stopped. The run owns its goroutine: stop ends
// it and waits.
type importing struct {
	mu      sync.Mutex
	upTo    int  // the last row committed
	done    bool // every row is committed and the campaign marked imported
	err     error
	changed chan struct{} // closed and replaced at every change

	// from is the last row the ledger had when the import started: the
	// first pass reads rows up to it from the ledger (Due), and the rows
	// after it from fresh, as the import commits them, with the fields it
	// parsed: nothing is read twice. fresh is closed when the import ends.
	from     int
	fresh    chan []freshRow
	streamed bool // the first pass has had every row of fresh
	// noStream: the rows go to the ledger only (a shared one: every row a
	// worker sends must come through Due, which reserves it).
	noStream bool

	unchanged func() error // checked at every commit
	stop      func()
}

// freshRow is a row the import committed as waiting.
type freshRow struct {
	rec    ledger.Recipient
	fields map[string]string
}

// importFlush is how many rows the import commits at a time.
const importFlush = 1024

// prescan reads the whole list before anything is written or sent: a bad
// row anywhere stops the run with its row and column, and no campaign is
// left half-imported. It returns the number of rows and the file as read.
func (r *run) prescan(ctx context.Context) (int, os.FileInfo, error) {
	fi, err := os.Stat(r.opts.Settings.List)
	if err != nil {
		return 0, nil, err
	}
	list, err := recipients.Open(r.opts.Settings.List, recipients.Options{EmailColumn: r.opts.Settings.EmailColumn})
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = list.Close() }() // read only: a failed close loses nothing
	for n := 0; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return 0, nil, ctx.Err()
		}
		if row, err := list.Next(); err == io.EOF {
			return n, fi, nil
		} else if err != nil {
			return 0, nil, err
		} else if err := r.checkZone(row); err != nil {
			return 0, nil, err
		}
	}
}

// unchanged fails if the list is no longer the file prescan read: the
// import reads it as fast as the first pass sends, which may take hours.
func (r *run) unchanged() error {
	fi, err := os.Stat(r.opts.Settings.List)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrListChanged, err)
	}
	if fi.Size() != r.listStat.Size() || !fi.ModTime().Equal(r.listStat.ModTime()) {
		return fmt.Errorf("%w: %s was modified while its rows were being imported", ErrListChanged, r.opts.Settings.List)
	}
	return nil
}

// startImport starts importing the rows the ledger does not have yet.
func (r *run) startImport(ctx context.Context) error {
	from, err := r.store.LastRow(ctx, r.c.ID)
	if err != nil {
		return err
	}
	list, err := recipients.Open(r.opts.Settings.List, recipients.Options{EmailColumn: r.opts.Settings.EmailColumn})
	if err != nil {
		return err
	}
	ictx, cancel := context.WithCancel(ctx)
	im, err := r.store.Import(ictx, r.c.ID)
	if err != nil {
		cancel()
		_ = list.Close() // read only: a failed close loses nothing
		return err
	}
	m := &importing{upTo: from, changed: make(chan struct{}), from: from, fresh: make(chan []freshRow, 4), unchanged: r.unchanged,
		noStream: r.shared(), streamed: r.shared()}
	exited := make(chan struct{})
	m.stop = func() { cancel(); <-exited }
	go func() {
		defer close(exited)
		defer func() { _ = list.Close() }() // read only
		err := m.run(ictx, list, im)
		if err == nil {
			err = im.Commit()
		} else {
			// What was flushed stays; the rest is dropped, and on a shared
			// ledger the import is free for another worker to go on with.
			_ = im.Rollback()
		}
		m.finish(err)
		close(m.fresh)
	}()
	r.imp = m
	return nil
}

// run adds the list's rows after row from, committing every importFlush
// rows and passing on the rows committed as waiting.
func (m *importing) run(ctx context.Context, list *recipients.Reader, im ledger.Importer) error {
	var batch []freshRow
	last, added := m.from, 0
	for {
		row, err := list.Next()
		eof := err == io.EOF
		if err != nil && !eof {
			return fmt.Errorf("%w: %w", ErrListChanged, err)
		}
		if !eof {
			if row.Num <= m.from {
				continue
			}
			rec := recipientFor(row)
			if err := im.Add(rec); err != nil {
				return err
			}
			if rec.State != ledger.Skipped {
				batch = append(batch, freshRow{rec: rec, fields: row.Fields})
			}
			if last, added = row.Num, added+1; added%importFlush != 0 {
				continue
			}
		}
		if batch, err = m.commit(ctx, im, batch, last); err != nil || eof {
			return err
		}
	}
}

// commit commits the rows added so far and hands on those still waiting.
func (m *importing) commit(ctx context.Context, im ledger.Importer, batch []freshRow, last int) ([]freshRow, error) {
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err := m.unchanged(); err != nil {
		return nil, err
	}
	skipped, err := im.Flush()
	if err != nil {
		return nil, err
	}
	if len(skipped) > 0 {
		gone := map[int]bool{}
		for _, r := range skipped {
			gone[r] = true
		}
		batch = slices.DeleteFunc(batch, func(f freshRow) bool { return gone[f.rec.Row] })
	}
	m.advance(last)
	if len(batch) > 0 && !m.noStream {
		select {
		case m.fresh <- batch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return nil, nil
}

func (m *importing) advance(row int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.upTo = row
	close(m.changed)
	m.changed = make(chan struct{})
}

func (m *importing) finish(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.err = fmt.Errorf("importing the list: %w", err)
		if errors.Is(err, context.Canceled) {
			m.err = err
		}
	} else {
		m.done = true
	}
	close(m.changed)
	m.changed = make(chan struct{})
}

// wait blocks until the rows up to row are committed or the import has
// ended, and returns the import's error, if any. With no import running
// it returns at once.
func (m *importing) wait(ctx context.Context, row int) error {
	if m == nil {
		return nil
	}
	for {
		m.mu.Lock()
		ended, err, ch := m.done || m.upTo >= row, m.err, m.changed
		m.mu.Unlock()
		if err != nil || ended {
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
