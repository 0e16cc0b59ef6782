package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/mailblast/mailblast/ledger"
)

// Counts tallies the campaign by state; rows claimed and still waiting
// are in flight, whichever worker holds them.
func (s *Store) Counts(ctx context.Context, campaignID int64) (ledger.Counts, error) {
	var c ledger.Counts
	rows, err := s.pool.Query(ctx, `SELECT state, claimed AND state IN `+waitingStates+`, COUNT(*), COUNT(*) FILTER (WHERE recovered > 0)
		FROM recipients WHERE campaign_id = $1 GROUP BY 1, 2`, campaignID)
	if err != nil {
		return c, wrap("counts", err)
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var flying bool
		var n, rec int64
		if err := rows.Scan(&st, &flying, &n, &rec); err != nil {
			return c, wrap("counts", err)
		}
		f := c.Field(ledger.State(st))
		if f == nil {
			return c, fmt.Errorf("%w: %d rows in state %q, which mailblast never writes", ledger.ErrDamaged, n, st)
		}
		if flying {
			f = &c.InFlight
		}
		*f += int(n)
		c.Total += int(n)
		c.Recovered += int(rec)
	}
	return c, wrap("counts", rows.Err())
}

// Recipients calls fn for every row in state ("" for all), in row order.
// InFlight means the rows claimed and still waiting.
func (s *Store) Recipients(ctx context.Context, campaignID int64, state ledger.State, fn func(ledger.Recipient) error) error {
	q := `SELECT ` + recipientCols + `, claimed AND state IN ` + waitingStates + ` FROM recipients WHERE campaign_id = $1`
	args := []any{campaignID}
	switch state {
	case "":
	case ledger.Pending:
		q += ` AND state IN ('new', 'pending')`
	case ledger.InFlight:
		q += ` AND claimed AND state IN ` + waitingStates
	default:
		q += ` AND state = $2`
		args = append(args, string(state))
	}
	rows, err := s.pool.Query(ctx, q+` ORDER BY row`, args...)
	if err != nil {
		return wrap("recipients", err)
	}
	defer rows.Close()
	for rows.Next() {
		var flying bool
		r, err := scanRecipient(extra{rows, &flying})
		if err != nil {
			return wrap("recipients", err)
		}
		if flying {
			r.State = ledger.InFlight
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return wrap("recipients", rows.Err())
}

// extra scans one more column after a recipient's.
type extra struct {
	row  pgx.Row
	more any
}

func (e extra) Scan(dest ...any) error { return e.row.Scan(append(dest, e.more)...) }

// Recipient reads one row.
func (s *Store) Recipient(ctx context.Context, campaignID int64, row int) (ledger.Recipient, error) {
	r, err := scanRecipient(s.pool.QueryRow(ctx, `SELECT `+recipientCols+` FROM recipients WHERE campaign_id = $1 AND row = $2`, campaignID, row))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("%w: row %d", ledger.ErrNoRow, row)
	}
	return r, wrap(fmt.Sprintf("row %d", row), err)
}

// Attempts lists every recorded try at one row, oldest first; a message
// sent at its first attempt is read from its recipients row.
func (s *Store) Attempts(ctx context.Context, campaignID int64, row int) ([]ledger.Attempt, error) {
	rows, err := s.pool.Query(ctx, `SELECT row, at, state, code, enhanced, text, relay FROM attempt_log
		WHERE campaign_id = $1 AND row = $2 ORDER BY n`, campaignID, row)
	if err != nil {
		return nil, wrap("attempts", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ledger.Attempt, error) {
		var a ledger.Attempt
		var rowN, code int32
		var at int64
		var st string
		err := r.Scan(&rowN, &at, &st, &code, &a.Enhanced, &a.Text, &a.Relay)
		a.Row, a.Code, a.At, a.State = int(rowN), int(code), ledger.FromMillis(at), ledger.State(st)
		return a, err
	})
	if err != nil || len(out) > 0 {
		return out, wrap("attempts", err)
	}
	r, err := s.Recipient(ctx, campaignID, row)
	if errors.Is(err, ledger.ErrNoRow) {
		return nil, nil
	}
	if err != nil || r.Attempts != 1 || r.State != ledger.Sent {
		return nil, err
	}
	return []ledger.Attempt{{Row: row, At: r.UpdatedAt, State: r.State, Code: r.Code, Enhanced: r.Enhanced, Text: r.Text}}, nil
}
