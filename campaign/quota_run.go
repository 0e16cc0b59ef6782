package campaign

import (
	"context"
	"time"

	"github.com/mailblast/mailblast/ledger"
)

// quotaStore is the run's ledger as the committer writes it: each commit
// also counts, per relay, the messages it recorded as accepted, which a
// relay's count from the ledger holds from then on.
type quotaStore struct {
	ledger.Store
	q *quotas
}

// wrap is store, counting commits for the quotas; store itself without.
func (q *quotas) wrap(store ledger.Store) ledger.Store {
	if q == nil {
		return store
	}
	return quotaStore{Store: store, q: q}
}

// Apply commits b and counts its accepted messages, as one step for the
// relays' reads.
func (s quotaStore) Apply(ctx context.Context, campaignID int64, b ledger.Batch, at time.Time) error {
	s.q.commits.Lock()
	defer s.q.commits.Unlock()
	err := s.Store.Apply(ctx, campaignID, b, at)
	if err != nil {
		return err
	}
	for i := range b.Outcomes {
		o := &b.Outcomes[i]
		if o.Attempted && o.State == ledger.Sent {
			if rq := s.q.relays[o.Relay]; rq != nil {
				rq.committed.Add(1)
			}
		}
	}
	return nil
}

// exhausted reports whether no relay of the run has room now (reading the
// ledger afresh), saying so for each: a pass would send nothing. Only
// when every relay has a quota or a warm-up can that be.
func (r *run) exhausted(ctx context.Context) bool {
	q := r.quota
	if q == nil || !q.all {
		return false
	}
	full := true
	for _, rq := range q.relays {
		if rq.check(ctx) {
			full = false
		}
	}
	return full
}

// check reads the relay's counts and reports whether it has room.
func (q *relayQuota) check(ctx context.Context) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	if err := q.read(ctx, now); err != nil {
		q.logf("relay %s: counting its quota: %v", q.name, err)
		return true
	}
	if q.room(now) {
		q.full, q.said = false, false
		return true
	}
	q.full = false // work out the time afresh
	q.close(now)
	return false
}

// holdUntil is when the next pass may start: next, the ledger's next due
// row, or later while no relay has room.
func (r *run) holdUntil(ctx context.Context, next time.Time) time.Time {
	if !r.exhausted(ctx) {
		return next
	}
	return laterOf(next, r.quota.heldUntil())
}

// heldUntil is when the first relay has room again while every relay is
// full; zero otherwise. A row given back meanwhile waits until then.
func (q *quotas) heldUntil() time.Time {
	if q == nil || !q.all {
		return time.Time{}
	}
	var at time.Time
	for _, rq := range q.relays {
		rq.mu.Lock()
		full, room := rq.full, rq.roomAt
		rq.mu.Unlock()
		if !full {
			return time.Time{}
		}
		if at.IsZero() || room.Before(at) {
			at = room
		}
	}
	return at
}
