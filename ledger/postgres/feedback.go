package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mailblast/mailblast/ledger"
)

// RecordFeedback records f in one transaction: the log row, the attempt
// history, the row's new state and the suppression (ledger/sqlite_feedback.go).
func (s *Store) RecordFeedback(ctx context.Context, f ledger.Feedback) (ledger.FeedbackResult, error) {
	if f.At.IsZero() {
		f.At = time.Now()
	}
	var res ledger.FeedbackResult
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		res, err = recordFeedback(ctx, tx, f)
		return err
	})
	if err != nil {
		return res, err
	}
	return res, nil
}

// RecordFeedbacks records many in one transaction, each as RecordFeedback
// would; one about a row never delivered, or none, is refused alone
// (found so before anything of it is written), any other error records
// none.
func (s *Store) RecordFeedbacks(ctx context.Context, list []ledger.Feedback) ([]ledger.FeedbackResult, error) {
	out := make([]ledger.FeedbackResult, len(list))
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for i, f := range list {
			if f.At.IsZero() {
				f.At = time.Now()
			}
			res, err := recordFeedback(ctx, tx, f)
			if errors.Is(err, ledger.ErrIllegalTransition) || errors.Is(err, ledger.ErrNoRow) {
				res.Refused, err = err, nil // refused before anything of it was written
			}
			if err != nil {
				return err
			}
			out[i] = res
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func recordFeedback(ctx context.Context, tx pgx.Tx, f ledger.Feedback) (ledger.FeedbackResult, error) {
	var res ledger.FeedbackResult
	cur, err := rowForFeedback(ctx, tx, f)
	if err != nil {
		return res, err
	}
	if res.Duplicate, err = logFeedback(ctx, tx, f, cur.Key); err != nil || res.Duplicate {
		return res, err
	}
	to := cur.State
	if f.State != "" && f.State != cur.State && allows(cur.State, f.State) {
		to = f.State
	}
	if err := logFeedbackAttempt(ctx, tx, f, cur, to); err != nil {
		return res, err
	}
	if to != cur.State {
		if err := moveRow(ctx, tx, f, to); err != nil {
			return res, err
		}
		res.Moved = true
	}
	res.Suppressed, err = suppressForFeedback(ctx, tx, f, cur.Key)
	return res, err
}

func allows(from, to ledger.State) bool {
	for _, s := range ledger.AllowedFrom(to) {
		if s == from {
			return true
		}
	}
	return false
}

// rowForFeedback reads (and locks) the row f is about; one never
// delivered is ErrIllegalTransition.
func rowForFeedback(ctx context.Context, tx pgx.Tx, f ledger.Feedback) (ledger.Recipient, error) {
	r, err := scanRecipient(tx.QueryRow(ctx, `SELECT `+recipientCols+` FROM recipients WHERE campaign_id = $1 AND row = $2 FOR UPDATE`,
		f.CampaignID, f.Row))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("ledger: feedback: %w: row %d", ledger.ErrNoRow, f.Row)
	}
	if err != nil {
		return r, wrap(fmt.Sprintf("feedback row %d", f.Row), err)
	}
	if !r.State.Delivered() {
		return r, fmt.Errorf("ledger: feedback row %d (%s): %w: the row was never delivered", f.Row, r.State, ledger.ErrIllegalTransition)
	}
	if f.State != "" && (f.State == ledger.Sent || !f.State.Delivered()) {
		return r, fmt.Errorf("ledger: feedback row %d: %w: feedback never moves a row to %q", f.Row, ledger.ErrIllegalTransition, f.State)
	}
	return r, nil
}

// logFeedback inserts f's log row; true when its Key is there already.
func logFeedback(ctx context.Context, tx pgx.Tx, f ledger.Feedback, address string) (bool, error) {
	tag, err := tx.Exec(ctx, `INSERT INTO feedback (key, at, kind, source, campaign_id, row, address, status, diagnostic, soft)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (key) DO NOTHING`,
		f.Key, ledger.Millis(f.At), f.Kind, f.Source, f.CampaignID, f.Row, address, f.Status, f.Diagnostic, f.Soft)
	if err != nil {
		return false, wrap(fmt.Sprintf("feedback row %d", f.Row), err)
	}
	return tag.RowsAffected() == 0, nil
}

// logFeedbackAttempt adds the report to the row's history, logging first
// a first-try send its recipients row alone held.
func logFeedbackAttempt(ctx context.Context, tx pgx.Tx, f ledger.Feedback, cur ledger.Recipient, to ledger.State) error {
	var n int
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(n), 0) FROM attempt_log WHERE campaign_id = $1 AND row = $2`,
		f.CampaignID, f.Row).Scan(&n); err != nil {
		return wrap(fmt.Sprintf("feedback row %d", f.Row), err)
	}
	const ins = `INSERT INTO attempt_log (campaign_id, row, n, at, state, code, enhanced, text) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`
	if n == 0 && cur.Attempts > 0 {
		n = cur.Attempts
		if _, err := tx.Exec(ctx, ins, f.CampaignID, f.Row, n, ledger.Millis(cur.UpdatedAt), string(ledger.Sent), cur.Code, cur.Enhanced, cur.Text); err != nil {
			return wrap(fmt.Sprintf("feedback row %d", f.Row), err)
		}
	}
	text := f.Kind + " (" + f.Source + ")"
	if f.Diagnostic != "" {
		text += ": " + f.Diagnostic
	}
	if _, err := tx.Exec(ctx, ins, f.CampaignID, f.Row, n+1, ledger.Millis(f.At), string(to), f.Code, f.Status, text); err != nil {
		return wrap(fmt.Sprintf("feedback row %d", f.Row), err)
	}
	return nil
}

// moveRow sets the row's new state, the transition checked again in the
// statement itself.
func moveRow(ctx context.Context, tx pgx.Tx, f ledger.Feedback, to ledger.State) error {
	var from []string
	for _, st := range ledger.AllowedFrom(to) {
		from = append(from, string(st))
	}
	tag, err := tx.Exec(ctx, `UPDATE recipients SET state = $1, code = $2, enhanced = $3, text = $4, updated_at = $5
		WHERE campaign_id = $6 AND row = $7 AND state = ANY ($8::text[])`,
		string(to), f.Code, f.Status, f.Diagnostic, ledger.Millis(f.At), f.CampaignID, f.Row, from)
	if err != nil {
		return wrap(fmt.Sprintf("feedback row %d", f.Row), err)
	}
	if tag.RowsAffected() != 1 { // read and locked in this transaction: cannot happen
		return fmt.Errorf("ledger: feedback row %d to %s: the row changed under its transaction", f.Row, to)
	}
	return nil
}

// suppressForFeedback adds the row's address when f says so, or when its
// soft bounces reached the limit.
func suppressForFeedback(ctx context.Context, tx pgx.Tx, f ledger.Feedback, address string) (bool, error) {
	source := f.Suppress
	if source == "" && f.Soft && f.SoftLimit > 0 {
		n, err := softBounces(ctx, tx, address, f.SoftSince)
		if err != nil {
			return false, err
		}
		if n >= f.SoftLimit {
			source = ledger.SourceBounce
		}
	}
	if source == "" || address == "" {
		return false, nil
	}
	tag, err := tx.Exec(ctx, `INSERT INTO suppressions (address, reason, source, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (address) DO NOTHING`, address, f.Reason, source, ledger.Millis(time.Now()))
	if err != nil {
		return false, wrap(fmt.Sprintf("suppress row %d", f.Row), err)
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	if _, err := tx.Exec(ctx, bumpSuppressGen); err != nil {
		return false, wrap(fmt.Sprintf("suppress row %d", f.Row), err)
	}
	return true, nil
}

type queryRower interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func softBounces(ctx context.Context, q queryRower, address string, since time.Time) (int, error) {
	var n int
	err := q.QueryRow(ctx, `SELECT COUNT(DISTINCT (campaign_id, row)) FROM feedback WHERE address = $1 AND at >= $2 AND soft`,
		address, ledger.Millis(since)).Scan(&n)
	return n, wrap("soft bounces", err)
}

// SoftBounces counts the soft bounces recorded for address at or after
// since.
func (s *Store) SoftBounces(ctx context.Context, address string, since time.Time) (int, error) {
	return softBounces(ctx, s.pool, address, since)
}

// SentMessage finds the row that was sent messageID as row of some
// campaign: a primary-key lookup per campaign and an exact comparison.
func (s *Store) SentMessage(ctx context.Context, row int, messageID string) (int64, ledger.Recipient, bool, error) {
	if messageID == "" {
		return 0, ledger.Recipient{}, false, nil
	}
	var id int64
	r, err := scanRecipient(extra{s.pool.QueryRow(ctx, `SELECT `+recipientColsR+`, c.id FROM campaigns AS c
		JOIN recipients AS r ON r.campaign_id = c.id AND r.row = $1 WHERE r.message_id = $2 LIMIT 1`, row, messageID), &id})
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, r, false, nil
	}
	if err != nil {
		return 0, r, false, wrap("message "+messageID, err)
	}
	return id, r, true, nil
}
