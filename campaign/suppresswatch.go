package campaign

import (
	"context"
	"sync"
	"time"

	"github.com/mailblast/mailblast/ledger"
)

// suppressWatch hears of addresses suppressed while the run goes on
// (`suppress add` from another shell), so that they are skipped from the
// next row handed out, not only at the next run. Settle and the import
// apply the list as it stood when they ran; this covers what came after.
// It polls a generation counter at most every pollEvery, one primary-key
// read, and reads the new addresses only when that changed. Safe for
// concurrent use by the render goroutines.
type suppressWatch struct {
	store ledger.Store
	since time.Time

	mu      sync.Mutex
	gen     int64
	checked time.Time
	added   map[string]string // address key -> reason, suppressed since
}

const pollEvery = 100 * time.Millisecond

func newSuppressWatch(ctx context.Context, store ledger.Store, since time.Time) (*suppressWatch, error) {
	gen, err := store.SuppressionGen(ctx)
	if err != nil {
		return nil, err
	}
	return &suppressWatch{store: store, since: since, gen: gen, checked: time.Now()}, nil
}

// reason is why key must not be sent now ("" if it may be).
func (w *suppressWatch) reason(ctx context.Context, key string) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if time.Since(w.checked) >= pollEvery {
		if err := w.refresh(ctx); err != nil {
			return "", err
		}
	}
	if key == "" || w.added == nil {
		return "", nil
	}
	return w.added[key], nil
}

func (w *suppressWatch) refresh(ctx context.Context) error {
	w.checked = time.Now()
	gen, err := w.store.SuppressionGen(ctx)
	if err != nil || gen == w.gen {
		return err
	}
	added, err := w.store.SuppressedSince(ctx, w.since)
	if err != nil {
		return err
	}
	w.gen, w.added = gen, added
	return nil
}
