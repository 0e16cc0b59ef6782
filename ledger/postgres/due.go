package postgres

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mailblast/mailblast/ledger"
)

// free is SQL true of a waiting row the worker whose token is parameter me
// may take: not in flight, and not reserved by another worker whose lease
// is current.
func free(me string) string {
	return `NOT claimed AND (NOT held OR owner = ` + me + ` OR owner <> ALL (` + liveTokens + `))`
}

// dueRows reserves up to $5 rows after $2 due at $3 for worker $4 of
// campaign $1. SKIP LOCKED passes over rows another worker's Due is
// reserving at this moment; the reservation (owner, held) keeps them from
// every other worker's Due after it commits.
var dueRows = `WITH c AS (
	SELECT row FROM recipients
	WHERE campaign_id = $1 AND state IN ` + waitingStates + ` AND row > $2
		AND (state = 'new' OR next_attempt <= $3) AND ` + free("$4") + `
	ORDER BY row LIMIT $5 FOR UPDATE SKIP LOCKED)
UPDATE recipients AS r SET owner = $4, held = true FROM c
WHERE r.campaign_id = $1 AND r.row = c.row
RETURNING ` + recipientColsR

// Due reserves for this worker, and returns in row order, up to limit rows
// after afterRow that may be attempted now: fresh rows, pending rows, and
// deferred rows whose wait is over. Rows another live worker reserved or
// claimed are not among them. Claimed rows of a worker whose lease lapsed
// are first settled as in flight, by the policy RecoverInFlight was last
// given for the campaign (none given: they wait for the next recovery).
func (s *Store) Due(ctx context.Context, campaignID int64, now time.Time, afterRow, limit int) ([]ledger.Recipient, error) {
	if err := s.live(); err != nil {
		return nil, err
	}
	var out []ledger.Recipient
	b := &pgx.Batch{}
	// A reservation need not survive a crash of the database (it is only
	// a soft lock; the claim that follows is durable): Due's commit does
	// not wait for the WAL flush, which costs more than the query here.
	b.Queue(`SELECT set_config('synchronous_commit', 'off', true)`)
	if rec, ok := s.recoveringFor(campaignID); ok {
		var lapsed int
		queueTakeOver(b, campaignID, s.token, rec, now, &lapsed)
	}
	b.Queue(dueRows, campaignID, afterRow, ledger.Millis(now), s.token, limit).Query(func(rows pgx.Rows) error {
		var err error
		out, err = collectRecipients(rows)
		return err
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, wrap("due", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Row < out[j].Row })
	return out, nil
}

func (s *Store) recoveringFor(campaignID int64) (recovering, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.recovering[campaignID]
	return rec, ok
}

// NextDue is the earliest time a row may be tried again: now for a fresh
// row, a waiting row's next attempt, or when another worker's lease on
// the rows it has in flight would lapse, should it die (its rows would be
// taken over then; once lapsed, at once). Nothing waiting at all: ok is false.
func (s *Store) NextDue(ctx context.Context, campaignID int64) (time.Time, bool, error) {
	var next *int64
	// Without a policy this worker does not take lapsed claims over: their
	// lapse is no reason to come back.
	_, takesOver := s.recoveringFor(campaignID)
	err := s.pool.QueryRow(ctx, `SELECT LEAST(
		(SELECT 0::bigint WHERE EXISTS (SELECT 1 FROM recipients WHERE campaign_id = $1 AND state = 'new' AND `+free("$2")+`)),
		(SELECT MIN(next_attempt) FROM recipients WHERE campaign_id = $1 AND state IN ('pending', 'deferred') AND `+free("$2")+`),
		(SELECT (EXTRACT(EPOCH FROM MIN(l.until)) * 1000)::bigint FROM leases AS l
			WHERE l.token <> $2 AND ($3 OR l.until > now()) AND EXISTS (SELECT 1 FROM recipients AS r
				WHERE r.campaign_id = $1 AND r.claimed AND r.owner = l.token AND r.state IN `+waitingStates+`)))`,
		campaignID, s.token, takesOver).Scan(&next)
	if err != nil {
		return time.Time{}, false, wrap("next due", err)
	}
	if next == nil {
		return time.Time{}, false, nil
	}
	return time.UnixMilli(*next), true, nil
}

// Progress is the campaign's size and how many rows still wait (pending,
// deferred or in flight). Rows are numbered 2 to N+1.
func (s *Store) Progress(ctx context.Context, campaignID int64) (total, waiting int, err error) {
	var last *int32
	err = s.pool.QueryRow(ctx, `SELECT MAX(row), (SELECT COUNT(*) FROM recipients WHERE campaign_id = $1 AND state IN `+waitingStates+`)
		FROM recipients WHERE campaign_id = $1`, campaignID).Scan(&last, &waiting)
	if err != nil {
		return 0, 0, wrap("progress", err)
	}
	if last != nil {
		total = int(*last) - 1
	}
	return total, waiting, nil
}

func recovery(p ledger.InFlightPolicy) (ledger.State, string) {
	if p == ledger.Skip {
		return ledger.Skipped, "in flight at an interrupted run; not sent again (--in-flight=skip)"
	}
	return ledger.Pending, "in flight at an interrupted run; sent again (a duplicate is possible)"
}

const recipientCols = `row, email, byte_offset, state, attempts, next_attempt, first_try, code, enhanced, text, message_id, recovered, updated_at, norm, utf8`

const recipientColsR = `r.row, r.email, r.byte_offset, r.state, r.attempts, r.next_attempt, r.first_try, r.code, r.enhanced, r.text,
	r.message_id, r.recovered, r.updated_at, r.norm, r.utf8`

func scanRecipient(row pgx.Row) (ledger.Recipient, error) {
	var r ledger.Recipient
	var state string
	var rowN, attempts, code, recovered int32
	var next, first, updated int64
	err := row.Scan(&rowN, &r.Email, &r.Offset, &state, &attempts, &next, &first,
		&code, &r.Enhanced, &r.Text, &r.MessageID, &recovered, &updated, &r.Key, &r.UTF8)
	r.Row, r.Attempts, r.Code, r.Recovered = int(rowN), int(attempts), int(code), int(recovered)
	r.State = ledger.State(state)
	if state == "new" {
		r.State = ledger.Pending
	}
	r.NextAttempt, r.FirstTry, r.UpdatedAt = ledger.FromMillis(next), ledger.FromMillis(first), ledger.FromMillis(updated)
	return r, err
}

func collectRecipients(rows pgx.Rows) ([]ledger.Recipient, error) {
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ledger.Recipient, error) { return scanRecipient(r) })
	if err != nil {
		return nil, fmt.Errorf("recipients: %w", err)
	}
	return out, nil
}
