package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/mailblast/mailblast/ledger"
)

// RecordSeed logs one seed send of the campaign.
func (s *Store) RecordSeed(ctx context.Context, campaignID int64, sd ledger.SeedSend) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO seed_log (campaign_id, at, phase, address, code, text, message_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, campaignID, ledger.Millis(sd.At), sd.Phase, sd.Address, sd.Code, sd.Text, sd.MessageID)
	return wrap("record seed send", err)
}

// SeedSends lists the campaign's seed sends, oldest first.
func (s *Store) SeedSends(ctx context.Context, campaignID int64) ([]ledger.SeedSend, error) {
	rows, err := s.pool.Query(ctx, `SELECT at, phase, address, code, text, message_id FROM seed_log
		WHERE campaign_id = $1 ORDER BY at, id`, campaignID)
	if err != nil {
		return nil, wrap("seed sends", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ledger.SeedSend, error) {
		var sd ledger.SeedSend
		var at int64
		err := r.Scan(&at, &sd.Phase, &sd.Address, &sd.Code, &sd.Text, &sd.MessageID)
		sd.At = ledger.FromMillis(at)
		return sd, err
	})
	return out, wrap("seed sends", err)
}
