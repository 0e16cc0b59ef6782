package campaign

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/recipients"
)

// importing is the list's import into the ledger, running beside the first
// pass so that sending starts after the first few thousand rows instead of
// after the last. The whole list has been read once before (prescan), so
// only the disk or an interrupt can stop the import half-way, and the next
// run takes it up where it stopped. The run owns its goroutine: stop ends
// it and waits.
type importing struct {
	mu      sync.Mutex
	upTo    int  // the last row committed
	done    bool // every row is committed and the campaign marked imported
	err     error
	changed chan struct{} // closed and replaced at every change

	stop func()
}

// importFlush is how many rows the import commits at a time.
const importFlush = 1024

// prescan reads the whole list before anything is written or sent: a bad
// row anywhere stops the run with its row and column, and no campaign is
// left half-imported. It returns the number of rows.
func (r *run) prescan(ctx context.Context) (int, error) {
	list, err := recipients.Open(r.opts.Settings.List, recipients.Options{EmailColumn: r.opts.Settings.EmailColumn})
	if err != nil {
		return 0, err
	}
	defer list.Close()
	for n := 0; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if _, err := list.Next(); err == io.EOF {
			return n, nil
		} else if err != nil {
			return 0, err
		}
	}
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
		list.Close()
		return err
	}
	m := &importing{upTo: from, changed: make(chan struct{})}
	exited := make(chan struct{})
	m.stop = func() { cancel(); <-exited }
	go func() {
		defer close(exited)
		defer list.Close()
		err := importFrom(ictx, list, im, from, m.advance)
		if err == nil {
			err = im.Commit()
		}
		m.finish(err)
	}()
	r.imp = m
	return nil
}

// importFrom adds the list's rows after row from, committing every
// importFlush rows and telling advance the last row committed.
func importFrom(ctx context.Context, list *recipients.Reader, im ledger.Importer, from int, advance func(int)) error {
	for n := 1; ; n++ {
		row, err := list.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrListChanged, err)
		}
		if row.Num <= from {
			continue
		}
		if err := im.Add(recipientFor(row)); err != nil {
			return err
		}
		if n%importFlush == 0 {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err := im.Flush(); err != nil {
				return err
			}
			advance(row.Num)
		}
	}
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

// wait blocks until the rows up to row are committed or the import is
// done, and returns the last row committed and whether it is done. With
// no import running it returns at once, done.
func (m *importing) wait(ctx context.Context, row int) (int, bool, error) {
	if m == nil {
		return 0, true, nil
	}
	for {
		m.mu.Lock()
		upTo, done, err, ch := m.upTo, m.done, m.err, m.changed
		m.mu.Unlock()
		if err != nil || done || upTo >= row {
			return upTo, done, err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return upTo, false, ctx.Err()
		}
	}
}
