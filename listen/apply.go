package listen

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/mailblast/mailblast/feedback"
)

// applierCache makes the Applier once it is first needed, and again after
// a failure: a ledger that was busy when listen started is no reason to
// stop serving for days.
type applierCache struct {
	make func(context.Context) (Applier, error)
	mu   sync.Mutex
	a    Applier
}

var errNoApplier = errors.New("no ledger to apply feedback to")

func (c *applierCache) get(ctx context.Context) (Applier, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.a != nil {
		return c.a, nil
	}
	if c.make == nil {
		return nil, errNoApplier
	}
	a, err := c.make(ctx)
	if err != nil {
		return nil, err
	}
	c.a = a
	return a, nil
}

// applyTries and applyBackoff bound how long one event waits for a busy
// ledger: each try may itself wait out SQLite's busy timeout, so a few
// tries are plenty; after them the caller answers 503 and the sender
// retries later.
var (
	applyTries   = 3
	applyBackoff = 250 * time.Millisecond
)

// apply hands ev to the Applier, retrying a failed write.
func (h *Handler) apply(ctx context.Context, ev feedback.Event) (feedback.Result, error) {
	var err error
	for try := 0; try < applyTries; try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(applyBackoff << (try - 1)):
			}
		}
		var a Applier
		if a, err = h.applier.get(ctx); err != nil {
			continue
		}
		var res feedback.Result
		if res, err = a.Apply(ctx, ev); err == nil {
			return res, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	h.cfg.Log.Warn("feedback not stored; the sender is told to retry", "source", ev.Source, "kind", string(ev.Kind), "error", err.Error())
	return "", err
}

// applyAll applies evs in order and answers: 200 once every one is
// stored, 503 (retry later) as soon as one is not. Events already stored
// are harmless to send again: their Key makes them Duplicates. It
// reports whether all were stored.
func (h *Handler) applyAll(w http.ResponseWriter, r *http.Request, evs []feedback.Event) bool {
	counts := map[feedback.Result]int{}
	for _, ev := range evs {
		res, err := h.apply(r.Context(), ev)
		if err != nil {
			w.Header().Set("Retry-After", "60")
			fail(w, http.StatusServiceUnavailable, "not-stored")
			return false
		}
		counts[res]++
	}
	setResult(w, summarize(len(evs), counts))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "ok\n")
	return true
}

// summarize is the log's result for a webhook: "events=3 applied=2
// duplicate=1".
func summarize(n int, counts map[feedback.Result]int) string {
	s := "events=" + strconv.Itoa(n)
	for _, r := range []feedback.Result{feedback.Applied, feedback.Recorded, feedback.Duplicate, feedback.Unmatched} {
		if counts[r] > 0 {
			s += " " + string(r) + "=" + strconv.Itoa(counts[r])
		}
	}
	return s
}
