package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/mailblast/mailblast/ledger"
)

// Heartbeat records what this worker says of itself on campaignID: w's
// Host, PID, Claimed, Rate and Pace (its ID is this Store's worker, its
// LastHeartbeat the database's clock). Workers of the campaign not heard
// from for a day are forgotten.
func (s *Store) Heartbeat(ctx context.Context, campaignID int64, w ledger.Worker) error {
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO workers (campaign_id, worker, token, host, pid, heartbeat, claimed, rate, pace)
		VALUES ($1, $2, $3, $4, $5, now(), $6, $7, $8)
		ON CONFLICT (campaign_id, worker) DO UPDATE SET token = $3, host = $4, pid = $5, heartbeat = now(),
			claimed = $6, rate = $7, pace = $8`,
		campaignID, s.worker, s.token, w.Host, w.PID, w.Claimed, w.Rate, w.Pace)
	b.Queue(`DELETE FROM workers WHERE campaign_id = $1 AND heartbeat < now() - interval '1 day'`, campaignID)
	return wrap("heartbeat", s.pool.SendBatch(ctx, b).Close())
}

// Workers lists the campaign's workers, those whose lease is current
// (Live) first, then by host and pid.
func (s *Store) Workers(ctx context.Context, campaignID int64) ([]ledger.Worker, error) {
	rows, err := s.pool.Query(ctx, `SELECT w.worker, w.host, w.pid, w.heartbeat, w.claimed, w.rate, w.pace,
		EXISTS (SELECT 1 FROM leases AS l WHERE l.token = w.token AND l.until > now()) AS live
		FROM workers AS w WHERE w.campaign_id = $1 ORDER BY live DESC, w.host, w.pid, w.worker`, campaignID)
	if err != nil {
		return nil, wrap("workers", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ledger.Worker, error) {
		var w ledger.Worker
		err := r.Scan(&w.ID, &w.Host, &w.PID, &w.LastHeartbeat, &w.Claimed, &w.Rate, &w.Pace, &w.Live)
		return w, err
	})
	return out, wrap("workers", err)
}
