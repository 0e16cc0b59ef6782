package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// quotaSchema lets a relay's quota be counted across campaigns: relay_log's
// key starts with the campaign, so the count by relay and minute has an
// index of its own, which also holds sent so the count never reads the
// table. relay_log has a row per relay per minute, so the window of a
// 24-hour quota is at most 1,440 index entries per campaign, however many
// recipients the campaigns have.
const quotaSchema = `
CREATE INDEX IF NOT EXISTS relay_log_quota ON relay_log (relay, minute, sent);
`

// SentMinute is how many messages a relay accepted in one minute.
type SentMinute struct {
	Minute time.Time // the minute's start, UTC
	Sent   int
}

// SentSince counts the messages relay accepted at or after since, in
// every campaign of the ledger: what a quota's rolling window holds.
//
// Exactly: the sum of relay_log.sent over the rows whose relay equals
// relay (the Outcome.Relay of Apply, compared byte for byte) and whose
// minute is at or after since's minute (since truncated to the minute, in
// milliseconds since 1970 divided by 60,000). An accepted message is an
// Outcome with Attempted and State Sent; relay_log counts it under the
// minute of the Apply that recorded it (Apply's at). The count can thus
// include messages accepted up to 59 s before since, never miss one after
// it: a quota errs on the safe side. What feedback made of a message since
// (bounced, complained) does not change it. Rows of a removed campaign no
// longer count.
func (s *SQLite) SentSince(ctx context.Context, relay string, since time.Time) (int, error) {
	var n int
	err := s.rdb.QueryRowContext(ctx, `SELECT COALESCE(SUM(sent), 0) FROM relay_log WHERE relay = ? AND minute >= ?`,
		relay, since.UnixMilli()/60000).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("ledger: sent by relay %s: %w", relay, err)
	}
	return n, nil
}

// SentMinutes is SentSince minute by minute, oldest first, leaving out
// minutes without a sent message: when the oldest of them leave a quota's
// window, it has room again.
func (s *SQLite) SentMinutes(ctx context.Context, relay string, since time.Time) ([]SentMinute, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT minute, SUM(sent) FROM relay_log WHERE relay = ? AND minute >= ?
		GROUP BY minute HAVING SUM(sent) > 0 ORDER BY minute`, relay, since.UnixMilli()/60000)
	var out []SentMinute
	err = eachRow(rows, err, func(r *sql.Rows) error {
		var m SentMinute
		var minute int64
		if err := r.Scan(&minute, &m.Sent); err != nil {
			return err
		}
		m.Minute = time.UnixMilli(minute * 60000).UTC()
		out = append(out, m)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: sent by relay %s per minute: %w", relay, err)
	}
	return out, nil
}
