package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"
)

const recipientCols = `row, email, byte_offset, state, attempts, next_attempt, first_try, code, enhanced, text, message_id, recovered, updated_at, norm, utf8`

func scanRecipient(sc interface{ Scan(...any) error }) (Recipient, error) {
	var r Recipient
	var state string
	var next, first, updated int64
	err := sc.Scan(&r.Row, &r.Email, &r.Offset, &state, &r.Attempts, &next, &first,
		&r.Code, &r.Enhanced, &r.Text, &r.MessageID, &r.Recovered, &updated, &r.Key, &r.UTF8)
	r.State = State(state)
	if state == fresh {
		r.State = Pending
	}
	r.NextAttempt, r.FirstTry, r.UpdatedAt = FromMillis(next), FromMillis(first), FromMillis(updated)
	return r, err
}

func (s *SQLite) query(ctx context.Context, fn func(Recipient) error, q string, args ...any) error {
	rows, err := s.db.QueryContext(ctx, q, args...)
	return scanAll(rows, err, fn)
}

func scanAll(rows *sql.Rows, err error, fn func(Recipient) error) error {
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRecipient(rows)
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Due returns up to limit rows after afterRow that may be attempted now:
// fresh rows, pending rows and deferred rows whose wait is over, in row
// order. Three range scans instead of one OR keep this fast when a million
// rows are already final: fresh rows by row above the frontier, the others
// through the index of waiting rows.
func (s *SQLite) Due(ctx context.Context, campaignID int64, now time.Time, afterRow, limit int) ([]Recipient, error) {
	var out []Recipient
	collect := func(r Recipient) error { out = append(out, r); return nil }
	q := `SELECT ` + recipientCols + ` FROM recipients INDEXED BY recipients_waiting
		WHERE campaign_id = ? AND ` + waitingRows + ` AND state = ?
		AND row > ? AND next_attempt <= ? ORDER BY row LIMIT ?`
	st, err := s.cached(s.rdb, q)
	if err != nil {
		return nil, err
	}
	for _, state := range []State{Pending, Deferred} {
		rows, err := st.QueryContext(ctx, campaignID, string(state), afterRow, Millis(now), limit)
		if err := scanAll(rows, err, collect); err != nil {
			return nil, err
		}
	}
	out, err = s.dueFresh(ctx, out, campaignID, afterRow, limit)
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Row < out[j].Row })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// dueFresh appends fresh rows after afterRow. A fresh row has only what
// the import wrote, so only that is read: most of Due's rows come from here.
func (s *SQLite) dueFresh(ctx context.Context, out []Recipient, campaignID int64, afterRow, limit int) ([]Recipient, error) {
	st, err := s.cached(s.rdb, `SELECT row, email, byte_offset, norm, utf8, text, updated_at FROM recipients
		WHERE campaign_id = ? AND row > MAX(?, `+frontier+`) AND state = 'new' ORDER BY row LIMIT ?`)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, campaignID, afterRow, campaignID, limit)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r := Recipient{State: Pending}
		var updated int64
		if err := rows.Scan(&r.Row, &r.Email, &r.Offset, &r.Key, &r.UTF8, &r.Text, &updated); err != nil {
			return nil, err
		}
		r.UpdatedAt = FromMillis(updated)
		out = append(out, r)
	}
	return out, rows.Err()
}

// frontier is the last row a claim covered: every fresh row above it is
// unclaimed, and none is below it. Queries take the campaign's id after it.
const frontier = `(SELECT frontier FROM campaigns WHERE id = ?)`

// NextDue is the earliest time a deferred row may be tried again.
func (s *SQLite) NextDue(ctx context.Context, campaignID int64) (time.Time, bool, error) {
	var next sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT MIN(next_attempt) FROM recipients INDEXED BY recipients_waiting
		WHERE campaign_id = ? AND `+waitingRows+` AND state IN ('deferred', 'pending')`, campaignID).Scan(&next)
	if err != nil {
		return time.Time{}, false, err
	}
	if !next.Valid || next.Int64 > 0 {
		var fresh bool
		err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM recipients
			WHERE campaign_id = ? AND row > `+frontier+` AND state = 'new')`, campaignID, campaignID).Scan(&fresh)
		if err != nil {
			return time.Time{}, false, err
		}
		if fresh {
			next = sql.NullInt64{Valid: true}
		}
	}
	if !next.Valid {
		return time.Time{}, false, nil
	}
	return time.UnixMilli(next.Int64), true, nil
}

// waitingRows repeats the partial index's condition so that SQLite uses
// recipients_waiting: only rows not yet final, however large the campaign.
const waitingRows = "state IN ('pending', 'deferred', 'inflight')"

// Progress is the campaign's size and how many rows still wait (pending,
// deferred or in flight), read from the primary key above the frontier and
// the index of waiting rows only: a resume of a million-row campaign must
// not scan it.
// Rows are numbered 2 to N+1 (the header is row 1), every one imported.
func (s *SQLite) Progress(ctx context.Context, campaignID int64) (total, waiting int, err error) {
	var last sql.NullInt64
	if err = s.db.QueryRowContext(ctx, `SELECT MAX(row) FROM recipients WHERE campaign_id = ?`, campaignID).Scan(&last); err != nil {
		return 0, 0, fmt.Errorf("ledger: progress: %w", err)
	}
	if last.Valid {
		total = int(last.Int64) - 1
	}
	err = s.db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM recipients INDEXED BY recipients_waiting
		WHERE campaign_id = ? AND `+waitingRows+`) + (SELECT COUNT(*) FROM recipients
		WHERE campaign_id = ? AND row > `+frontier+` AND state = 'new') + (SELECT COUNT(*) FROM claims AS c
		JOIN recipients AS r ON r.campaign_id = c.campaign_id AND r.row BETWEEN c.first AND c.last
		WHERE c.campaign_id = ? AND r.state = 'new')`, campaignID, campaignID, campaignID, campaignID).Scan(&waiting)
	if err != nil {
		return 0, 0, fmt.Errorf("ledger: progress: %w", err)
	}
	return total, waiting, nil
}

// Counts tallies the campaign by state. Rows a claim holds in flight are
// counted as InFlight, not as the waiting state they are stored with.
func (s *SQLite) Counts(ctx context.Context, campaignID int64) (Counts, error) {
	var c Counts
	rows, err := s.db.QueryContext(ctx, `SELECT state, COUNT(*), SUM(recovered > 0), 0 FROM recipients
		WHERE campaign_id = ? GROUP BY state
		UNION ALL SELECT r.state, COUNT(*), 0, 1 FROM claims AS c
		JOIN recipients AS r ON r.campaign_id = c.campaign_id AND r.row BETWEEN c.first AND c.last
		WHERE c.campaign_id = ? AND `+inClaim("r", "c.due_at")+` GROUP BY r.state`, campaignID, campaignID)
	if err != nil {
		return c, fmt.Errorf("ledger: counts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n, rec int
		var flying bool
		if err := rows.Scan(&st, &n, &rec, &flying); err != nil {
			return c, err
		}
		f := c.Field(State(st))
		if f == nil { // quick_check reads pages, not meanings
			return c, fmt.Errorf("%w: %d rows in state %q, which mailblast never writes", ErrDamaged, n, st)
		}
		if flying {
			*f -= n
			c.InFlight += n
			continue
		}
		c.Total += n
		c.Recovered += rec
		*f += n
	}
	return c, rows.Err()
}

// Recipients calls fn for every row in state ("" for all), in row order.
// InFlight means the rows claims hold (and rows an older ledger marked).
func (s *SQLite) Recipients(ctx context.Context, campaignID int64, state State, fn func(Recipient) error) error {
	q := `SELECT ` + recipientCols + ` FROM recipients AS r WHERE campaign_id = ?`
	switch state {
	case "":
		return s.query(ctx, fn, q+` ORDER BY row`, campaignID)
	case Pending:
		return s.query(ctx, fn, q+` AND state IN ('new', 'pending') ORDER BY row`, campaignID)
	case InFlight:
		flying := func(r Recipient) error { r.State = InFlight; return fn(r) }
		return s.query(ctx, flying, q+` AND (state = 'inflight' OR EXISTS (SELECT 1 FROM claims AS c
			WHERE c.campaign_id = r.campaign_id AND r.row BETWEEN c.first AND c.last AND `+inClaim("r", "c.due_at")+`))
			ORDER BY row`, campaignID)
	}
	return s.query(ctx, fn, q+` AND state = ? ORDER BY row`, campaignID, string(state))
}

// Recipient reads one row.
func (s *SQLite) Recipient(ctx context.Context, campaignID int64, row int) (Recipient, error) {
	r, err := scanRecipient(s.db.QueryRowContext(ctx, `SELECT `+recipientCols+` FROM recipients
		WHERE campaign_id = ? AND row = ?`, campaignID, row))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("%w: row %d", ErrNoRow, row)
	}
	if err != nil {
		return r, fmt.Errorf("ledger: row %d: %w", row, err)
	}
	return r, nil
}

// Attempts lists every recorded try at one row, oldest first. A message
// sent at its first attempt has no log row: the recipients row holds it.
func (s *SQLite) Attempts(ctx context.Context, campaignID int64, row int) ([]Attempt, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT row, at, state, code, enhanced, text, relay FROM attempt_log
		WHERE campaign_id = ? AND row = ? ORDER BY n`, campaignID, row)
	if err != nil {
		return nil, fmt.Errorf("ledger: attempts: %w", err)
	}
	defer rows.Close()
	var out []Attempt
	for rows.Next() {
		var a Attempt
		var at int64
		var st string
		if err := rows.Scan(&a.Row, &at, &st, &a.Code, &a.Enhanced, &a.Text, &a.Relay); err != nil {
			return nil, err
		}
		a.At, a.State = FromMillis(at), State(st)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil || len(out) > 0 {
		return out, err
	}
	r, err := s.Recipient(ctx, campaignID, row)
	if errors.Is(err, ErrNoRow) {
		return nil, nil
	}
	if err != nil || r.Attempts != 1 || r.State != Sent {
		return nil, err
	}
	return []Attempt{{Row: row, At: r.UpdatedAt, State: r.State, Code: r.Code, Enhanced: r.Enhanced, Text: r.Text}}, nil
}
