package ledger

import (
	"context"
	"fmt"
	"time"
)

// SetSettings replaces the campaign's stored settings.
func (s *SQLite) SetSettings(ctx context.Context, campaignID int64, settings []byte) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE campaigns SET settings = ? WHERE id = ?`, string(settings), campaignID); err != nil {
		return fmt.Errorf("ledger: store settings: %w", err)
	}
	return nil
}

// Wake makes the campaign's pending rows that wait for a later time (a
// send window or a quota held them back) due at at, and returns how many.
// A run whose window settings changed calls it before its first pass, so
// a window brought forward (resume --not-before now) takes effect at
// once; rows still outside the new window are simply held back again.
// Deferred rows keep their retry time.
func (s *SQLite) Wake(ctx context.Context, campaignID int64, at time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE recipients INDEXED BY recipients_waiting SET next_attempt = ?1
		WHERE campaign_id = ?2 AND `+waitingRows+` AND state = 'pending' AND next_attempt > ?1`,
		Millis(at), campaignID)
	if err != nil {
		return 0, fmt.Errorf("ledger: wake: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
