package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// SeedSend is one copy of a campaign's message sent to a seed address (a
// mailbox the sender watches for inbox placement). Seeds are kept apart
// from the recipients: they are in no count, no report figure and no
// quota of rows, only in SeedSends.
type SeedSend struct {
	Address   string    `json:"address"`
	Phase     string    `json:"phase"` // SeedStart or SeedEnd
	At        time.Time `json:"at"`
	Code      int       `json:"code"` // the relay's reply; 0 when none came
	Text      string    `json:"text"`
	MessageID string    `json:"message_id,omitempty"`
}

// The two moments of a run that seeds get a copy.
const (
	SeedStart = "start"
	SeedEnd   = "end"
)

// seedSchema is the log of seed sends, one row per copy.
const seedSchema = `
CREATE TABLE IF NOT EXISTS seed_log (
	campaign_id INTEGER NOT NULL,
	at INTEGER NOT NULL,
	phase TEXT NOT NULL,
	address TEXT NOT NULL,
	code INTEGER NOT NULL,
	text TEXT NOT NULL,
	message_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS seed_log_campaign ON seed_log (campaign_id, at);
`

// RecordSeed logs one seed send of the campaign.
func (s *SQLite) RecordSeed(ctx context.Context, campaignID int64, sd SeedSend) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO seed_log (campaign_id, at, phase, address, code, text, message_id)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, campaignID, Millis(sd.At), sd.Phase, sd.Address, sd.Code, sd.Text, sd.MessageID)
	if err != nil {
		return fmt.Errorf("ledger: record seed send: %w", err)
	}
	return nil
}

// SeedSends lists the campaign's seed sends, oldest first.
func (s *SQLite) SeedSends(ctx context.Context, campaignID int64) ([]SeedSend, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT at, phase, address, code, text, message_id FROM seed_log
		WHERE campaign_id = ? ORDER BY at, rowid`, campaignID)
	var out []SeedSend
	err = eachRow(rows, err, func(rows *sql.Rows) error {
		var sd SeedSend
		var at int64
		if err := rows.Scan(&at, &sd.Phase, &sd.Address, &sd.Code, &sd.Text, &sd.MessageID); err != nil {
			return err
		}
		sd.At = FromMillis(at)
		out = append(out, sd)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: seed sends: %w", err)
	}
	return out, nil
}
