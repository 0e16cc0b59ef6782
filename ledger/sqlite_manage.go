package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// runsSchema records each send or resume of a campaign, so `campaigns` can
// say when it last ran and how that run ended.
const runsSchema = `
CREATE TABLE IF NOT EXISTS runs (
	campaign_id INTEGER NOT NULL,
	started INTEGER NOT NULL,
	ended INTEGER NOT NULL,
	exit_code INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_campaign ON runs (campaign_id, started);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
`

// bumpSuppressGen marks the suppression list changed, for runs under way.
const bumpSuppressGen = `INSERT INTO meta (key, value) VALUES ('suppress_gen', 1)
	ON CONFLICT (key) DO UPDATE SET value = value + 1`

// SuppressionGen changes whenever suppress add or import adds addresses:
// a running campaign polls it, cheaply, to hear of them.
func (s *SQLite) SuppressionGen(ctx context.Context) (int64, error) {
	var gen int64
	err := s.rdb.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'suppress_gen'`).Scan(&gen)
	if err == sql.ErrNoRows {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("ledger: suppression generation: %w", err)
	}
	return gen, nil
}

// SuppressedSince lists the addresses suppressed at or after since.
func (s *SQLite) SuppressedSince(ctx context.Context, since time.Time) (map[string]string, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT address, reason FROM suppressions WHERE created_at >= ?`, Millis(since))
	if err != nil {
		return nil, fmt.Errorf("ledger: recent suppressions: %w", err)
	}
	defer func() { _ = rows.Close() }() // read-only
	out := map[string]string{}
	for rows.Next() {
		var addr, reason string
		if err := rows.Scan(&addr, &reason); err != nil {
			return nil, err
		}
		out[addr] = reason
	}
	return out, rows.Err()
}

// Run is one send or resume of a campaign as it ended.
type Run struct {
	Started, Ended time.Time
	ExitCode       int
}

// RecordRun notes how one run of the campaign ended.
func (s *SQLite) RecordRun(ctx context.Context, campaignID int64, r Run) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO runs (campaign_id, started, ended, exit_code) VALUES (?, ?, ?, ?)`,
		campaignID, Millis(r.Started), Millis(r.Ended), r.ExitCode)
	if err != nil {
		return fmt.Errorf("ledger: record run: %w", err)
	}
	return nil
}

// LastRun is the campaign's latest recorded run; ok is false before any.
func (s *SQLite) LastRun(ctx context.Context, campaignID int64) (r Run, ok bool, err error) {
	var started, ended int64
	err = s.db.QueryRowContext(ctx, `SELECT started, ended, exit_code FROM runs WHERE campaign_id = ?
		ORDER BY started DESC LIMIT 1`, campaignID).Scan(&started, &ended, &r.ExitCode)
	if err == sql.ErrNoRows {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("ledger: last run: %w", err)
	}
	r.Started, r.Ended = FromMillis(started), FromMillis(ended)
	return r, true, nil
}

// Abandon stops the campaign being resumed and keeps its records: every row
// still waiting (fresh, pending, deferred, or held by a claim) becomes
// skipped with reason, and the import counts as done, so the campaign is
// finished. It returns how many rows it skipped.
func (s *SQLite) Abandon(ctx context.Context, campaignID int64, reason string, at time.Time) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("ledger: abandon: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE recipients SET state = 'skipped', text = ?, updated_at = ?
		WHERE campaign_id = ? AND state IN ('new', 'pending', 'deferred', 'inflight')`,
		"abandoned: "+reason, Millis(at), campaignID)
	if err != nil {
		return 0, fmt.Errorf("ledger: abandon: %w", err)
	}
	for _, q := range []string{`DELETE FROM claims WHERE campaign_id = ?`,
		`UPDATE campaigns SET imported = 1, abandoned = 1 WHERE id = ?`} {
		if _, err := tx.ExecContext(ctx, q, campaignID); err != nil {
			return 0, fmt.Errorf("ledger: abandon: %w", err)
		}
	}
	return affected(res), tx.Commit()
}

// RemoveCampaign deletes the campaign and every record of it. The
// suppression list, which all campaigns share, is left as it is.
func (s *SQLite) RemoveCampaign(ctx context.Context, campaignID int64) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("ledger: remove campaign: %w", err)
	}
	defer tx.Rollback()
	for _, q := range []string{`DELETE FROM recipients WHERE campaign_id = ?`, `DELETE FROM claims WHERE campaign_id = ?`,
		`DELETE FROM attempt_log WHERE campaign_id = ?`, `DELETE FROM runs WHERE campaign_id = ?`,
		`DELETE FROM relay_log WHERE campaign_id = ?`, `DELETE FROM seed_log WHERE campaign_id = ?`, `DELETE FROM campaigns WHERE id = ?`} {
		if _, err := tx.ExecContext(ctx, q, campaignID); err != nil {
			return fmt.Errorf("ledger: remove campaign: %w", err)
		}
	}
	return tx.Commit()
}
