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
// speaks for this worker's own claims only: every row in flight of
// another worker whose lease lapsed counts as on the wire, since no
// journal here knows what that worker sent.
func (s *Store) RecoverOnWire(ctx context.Context, campaignID int64, p ledger.InFlightPolicy, at time.Time, wire map[int]bool) (int, error) {
	if err := s.live(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	s.policy[campaignID] = p
	s.mu.Unlock()
	state, text := recovery(p)
	var n, lapsed int
	b := &pgx.Batch{}
	settle := `WITH u AS (UPDATE recipients SET state = $3, text = $4, next_attempt = 0, recovered = recovered + 1, updated_at = $5,
		owner = $2, held = false, claimed = false
		WHERE campaign_id = $1 AND claimed AND %s RETURNING 1) SELECT COUNT(*) FROM u`
	args := []any{campaignID, s.token, string(state), text, ms(at)}
	if wire == nil {
		b.Queue(fmt.Sprintf(settle, "owner = $2"), args...).QueryRow(func(r pgx.Row) error { return r.Scan(&n) })
	} else {
		rows := make([]int32, 0, len(wire))
		for row, on := range wire {
			if on {
				rows = append(rows, int32(row))
			}
		}
		b.Queue(fmt.Sprintf(settle, "owner = $2 AND row = ANY ($6::int[])"), append(args, rows)...).
			QueryRow(func(r pgx.Row) error { return r.Scan(&n) })
		// Claimed, never handed to a connection: they wait again.
		b.Queue(`UPDATE recipients SET held = false, claimed = false WHERE campaign_id = $1 AND claimed AND owner = $2`,
			campaignID, s.token)
	}
	lapsedArgs := append([]any(nil), args...)
	lapsedArgs[3] = text + " (its worker's lease lapsed)"
	b.Queue(fmt.Sprintf(settle, "owner <> $2 AND owner <> ALL ("+liveTokens+")"), lapsedArgs...).
		QueryRow(func(r pgx.Row) error { return r.Scan(&lapsed) })
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return 0, wrap("recover in-flight rows", err)
	}
	return n + lapsed, nil
}
