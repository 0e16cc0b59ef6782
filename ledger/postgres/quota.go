package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mailblast/mailblast/ledger"
)

// SentSince counts the messages relay accepted at or after since's minute,
// in every campaign of the database: a quota holds across workers as it
// does across runs (exact rule: ledger.SQLite.SentSince).
func (s *Store) SentSince(ctx context.Context, relay string, since time.Time) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT COALESCE(SUM(sent), 0) FROM relay_log WHERE relay = $1 AND minute >= $2`,
		relay, since.UnixMilli()/60000).Scan(&n)
	return n, wrap("sent by relay", err)
}

// SentMinutes is SentSince minute by minute, oldest first, minutes
// without a sent message left out.
func (s *Store) SentMinutes(ctx context.Context, relay string, since time.Time) ([]ledger.SentMinute, error) {
	rows, err := s.pool.Query(ctx, `SELECT minute, SUM(sent) FROM relay_log WHERE relay = $1 AND minute >= $2
		GROUP BY minute HAVING SUM(sent) > 0 ORDER BY minute`, relay, since.UnixMilli()/60000)
	if err != nil {
		return nil, wrap("sent by relay per minute", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ledger.SentMinute, error) {
		var m ledger.SentMinute
		var minute int64
		err := r.Scan(&minute, &m.Sent)
		m.Minute = time.UnixMilli(minute * 60000).UTC()
		return m, err
	})
	return out, wrap("sent by relay per minute", err)
}

// SetSettings replaces the campaign's stored settings.
func (s *Store) SetSettings(ctx context.Context, campaignID int64, settings []byte) error {
	_, err := s.pool.Exec(ctx, `UPDATE campaigns SET settings = $1 WHERE id = $2`, string(settings), campaignID)
	return wrap("store settings", err)
}

// Wake makes pending rows held for a later time due at at; rows a live
// worker holds are its own business, deferred rows keep their retry time.
func (s *Store) Wake(ctx context.Context, campaignID int64, at time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE recipients SET next_attempt = $1
		WHERE campaign_id = $2 AND state = 'pending' AND next_attempt > $1
			AND NOT claimed AND (NOT held OR owner <> ALL (`+liveTokens+`))`, ledger.Millis(at), campaignID)
	if err != nil {
		return 0, wrap("wake", err)
	}
	return int(tag.RowsAffected()), nil
}
