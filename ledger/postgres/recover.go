package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mailblast/mailblast/ledger"
)

// RecoverInFlight settles the rows in flight that no live worker will give
// an outcome: this worker's own claims (a run before this one on this
// Store), and the claims of workers whose lease lapsed. Rows other live
// workers have in flight are theirs and are not touched. The policy is
// kept: Due takes over later lapses by it too.
func (s *Store) RecoverInFlight(ctx context.Context, campaignID int64, p ledger.InFlightPolicy, at time.Time) (int, error) {
	return s.RecoverOnWire(ctx, campaignID, p, at, nil)
}

// RecoverOnWire is RecoverInFlight told which rows this worker's crashed
// run handed to a connection (wire, from this machine's journal). It
// speaks for this worker's own claims, and for those of the lapsed workers
// Options.Succeeds names (this machine's earlier process, whose journal
// wire is; it has exited, so its lease is ended here and its rows taken
// over at once): every row in flight of any other lapsed worker counts as
// on the wire, since no journal here knows what that worker sent. The
// wire is kept with the policy for Due's takeovers.
func (s *Store) RecoverOnWire(ctx context.Context, campaignID int64, p ledger.InFlightPolicy, at time.Time, wire map[int]bool) (int, error) {
	if err := s.live(); err != nil {
		return 0, err
	}
	rec := recovering{policy: p}
	if wire != nil {
		var err error
		if rec.covered, err = s.predecessors(ctx, campaignID); err != nil {
			return 0, err
		}
		for row, on := range wire {
			if on {
				rec.wire = append(rec.wire, int32(row))
			}
		}
	}
	s.mu.Lock()
	if old, ok := s.recovering[campaignID]; ok && wire == nil {
		// A later recovery without a journal (each pass's) keeps what the
		// first one learnt of the predecessors' wire: it is still true.
		rec.covered, rec.wire = old.covered, old.wire
	}
	s.recovering[campaignID] = rec
	s.mu.Unlock()
	state, text := recovery(p)
	var n, lapsed int
	b := &pgx.Batch{}
	args := []any{campaignID, s.token, string(state), text, ledger.Millis(at)}
	if wire == nil {
		b.Queue(fmt.Sprintf(settleSQL, "owner = $2"), args...).QueryRow(func(r pgx.Row) error { return r.Scan(&n) })
	} else {
		b.Queue(fmt.Sprintf(settleSQL, "owner = $2 AND row = ANY ($6::int[])"), append(args, rec.wire)...).
			QueryRow(func(r pgx.Row) error { return r.Scan(&n) })
		// Claimed, never handed to a connection: they wait again.
		b.Queue(`UPDATE recipients SET held = false, claimed = false WHERE campaign_id = $1 AND claimed AND owner = $2`,
			campaignID, s.token)
	}
	if wire != nil && len(rec.covered) > 0 {
		// A predecessor has exited (Options.Succeeds): its lease ends now,
		// so its rows are taken over at once rather than after the lease.
		b.Queue(`UPDATE leases SET until = LEAST(until, now()) WHERE token = ANY ($1::bigint[])`, rec.covered)
	}
	queueTakeOver(b, campaignID, s.token, rec, at, &lapsed)
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return 0, wrap("recover in-flight rows", err)
	}
	return n + lapsed, nil
}

// recovering is how this worker settles rows in flight of a campaign: the
// policy, and the lapsed workers (their tokens) whose wire it knows.
type recovering struct {
	policy  ledger.InFlightPolicy
	covered []int64
	wire    []int32
}

// settleSQL settles the claimed rows the condition picks by a policy
// ($3, $4), counting them; this worker becomes their owner.
const settleSQL = `WITH u AS (UPDATE recipients SET state = $3, text = $4, next_attempt = 0, recovered = recovered + 1, updated_at = $5,
	owner = $2, held = false, claimed = false
	WHERE campaign_id = $1 AND claimed AND %s RETURNING 1) SELECT COUNT(*) FROM u`

// predecessors are the tokens of the other workers with rows in flight in
// the campaign that Options.Succeeds says this worker's journal speaks for.
func (s *Store) predecessors(ctx context.Context, campaignID int64) ([]int64, error) {
	if s.succeeds == nil {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT l.token, l.worker FROM leases AS l WHERE l.token <> $2 AND EXISTS (
		SELECT 1 FROM recipients AS r WHERE r.campaign_id = $1 AND r.claimed AND r.owner = l.token)`, campaignID, s.token)
	if err != nil {
		return nil, wrap("recover in-flight rows", err)
	}
	var out []int64
	err = each(rows, func() error {
		var token int64
		var worker string
		if err := rows.Scan(&token, &worker); err != nil {
			return err
		}
		if s.succeeds(worker) {
			out = append(out, token)
		}
		return nil
	})
	return out, wrap("recover in-flight rows", err)
}

// queueTakeOver settles the rows in flight of workers whose lease lapsed
// (killed, or cut off from the database): by the policy, except that of a
// predecessor whose wire is known only the rows on it are in flight, the
// others simply wait again. This worker becomes their owner, so a lapsed
// worker's late writes are fenced off. lapsed counts the rows settled.
func queueTakeOver(b *pgx.Batch, campaignID, me int64, rec recovering, at time.Time, lapsed *int) {
	state, text := recovery(rec.policy)
	covered := rec.covered
	if covered == nil {
		covered = []int64{} // nil would be NULL, and <> ALL (NULL) true of no row
	}
	args := []any{campaignID, me, string(state), text + " (its worker's lease lapsed)", ledger.Millis(at), covered}
	dead := "owner <> $2 AND owner <> ALL (" + liveTokens + ")"
	var known int
	if len(rec.covered) > 0 {
		b.Queue(fmt.Sprintf(settleSQL, dead+" AND owner = ANY ($6::bigint[]) AND row = ANY ($7::int[])"), append(args, rec.wire)...).
			QueryRow(func(r pgx.Row) error { return r.Scan(&known) })
		b.Queue(`UPDATE recipients SET held = false, claimed = false, owner = $2
			WHERE campaign_id = $1 AND claimed AND `+dead+` AND owner = ANY ($3::bigint[])`, campaignID, me, rec.covered)
	}
	b.Queue(fmt.Sprintf(settleSQL, dead+" AND owner <> ALL ($6::bigint[])"), args...).
		QueryRow(func(r pgx.Row) error {
			err := r.Scan(lapsed)
			*lapsed += known
			return err
		})
}
