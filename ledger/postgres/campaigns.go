package postgres

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mailblast/mailblast/ledger"
)

// nextCampaignID never gives an ID twice, not even after the newest
// campaign is removed: a campaign's ID is in every VERP token and
// one-click link it sent (ledger/sqlite.go says more). The meta row's lock
// orders workers creating campaigns at once.
const nextCampaignID = `INSERT INTO meta (key, value)
	VALUES ('campaign_seq', GREATEST($1, (SELECT COALESCE(MAX(id), 0) + 1 FROM campaigns)))
	ON CONFLICT (key) DO UPDATE SET value = GREATEST(meta.value + 1, (SELECT COALESCE(MAX(id), 0) + 1 FROM campaigns))
	RETURNING value`

// firstCampaignID starts a new ledger's IDs at random, from 2^20 to 2^28,
// as SQLite's does.
func firstCampaignID() int64 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return 1<<20 + int64(binary.BigEndian.Uint32(b[:])%(1<<28-1<<20))
}

// CreateCampaign inserts c and sets its ID. A name taken already is an
// error: the unique index decides between workers creating it at once.
func (s *Store) CreateCampaign(ctx context.Context, c *ledger.Campaign) error {
	if c.CreatedAt.IsZero() {
		c.CreatedAt = time.Now()
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, nextCampaignID, firstCampaignID()).Scan(&c.ID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO campaigns
			(id, name, list_path, list_digest, template_path, template_digest, settings, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			c.ID, c.Name, c.ListPath, c.ListDigest, c.TemplatePath, c.TemplateDigest, string(c.Settings), ledger.Millis(c.CreatedAt))
		return err
	})
	return wrap(fmt.Sprintf("create campaign %q", c.Name), err)
}

const campaignCols = `id, name, list_path, list_digest, template_path, template_digest, settings, imported, created_at, abandoned`

func scanCampaign(row pgx.Row) (ledger.Campaign, error) {
	var c ledger.Campaign
	var settings string
	var created int64
	err := row.Scan(&c.ID, &c.Name, &c.ListPath, &c.ListDigest, &c.TemplatePath, &c.TemplateDigest, &settings, &c.Imported, &created, &c.Abandoned)
	c.Settings = []byte(settings)
	c.CreatedAt = ledger.FromMillis(created)
	return c, err
}

// Campaign looks a campaign up by name.
func (s *Store) Campaign(ctx context.Context, name string) (ledger.Campaign, error) {
	c, err := scanCampaign(s.pool.QueryRow(ctx, `SELECT `+campaignCols+` FROM campaigns WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return c, fmt.Errorf("%w: %q", ledger.ErrNotFound, name)
	}
	return c, wrap("campaign", err)
}

// Campaigns lists every campaign, oldest first.
func (s *Store) Campaigns(ctx context.Context) ([]ledger.Campaign, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+campaignCols+` FROM campaigns ORDER BY id`)
	if err != nil {
		return nil, wrap("campaigns", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ledger.Campaign, error) { return scanCampaign(r) })
	return out, wrap("campaigns", err)
}

// RecordRun notes how one run of the campaign ended.
func (s *Store) RecordRun(ctx context.Context, campaignID int64, r ledger.Run) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO runs (campaign_id, started, ended, exit_code) VALUES ($1, $2, $3, $4)`,
		campaignID, ledger.Millis(r.Started), ledger.Millis(r.Ended), r.ExitCode)
	return wrap("record run", err)
}

// LastRun is the campaign's latest recorded run; ok is false before any.
func (s *Store) LastRun(ctx context.Context, campaignID int64) (ledger.Run, bool, error) {
	var r ledger.Run
	var started, ended int64
	err := s.pool.QueryRow(ctx, `SELECT started, ended, exit_code FROM runs WHERE campaign_id = $1
		ORDER BY started DESC LIMIT 1`, campaignID).Scan(&started, &ended, &r.ExitCode)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, wrap("last run", err)
	}
	r.Started, r.Ended = ledger.FromMillis(started), ledger.FromMillis(ended)
	return r, true, nil
}

// Abandon skips every waiting row with reason, held or claimed by any
// worker, and ends the campaign, keeping its records.
func (s *Store) Abandon(ctx context.Context, campaignID int64, reason string, at time.Time) (int, error) {
	var n int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE recipients SET state = 'skipped', text = $1, updated_at = $2, held = false, claimed = false
			WHERE campaign_id = $3 AND state IN `+waitingStates, "abandoned: "+reason, ledger.Millis(at), campaignID)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		_, err = tx.Exec(ctx, `UPDATE campaigns SET imported = true, abandoned = true WHERE id = $1`, campaignID)
		return err
	})
	return int(n), wrap("abandon", err)
}

// RemoveCampaign deletes the campaign and every record of it; the
// suppression list stays.
func (s *Store) RemoveCampaign(ctx context.Context, campaignID int64) error {
	b := &pgx.Batch{}
	for _, q := range []string{`DELETE FROM recipients WHERE campaign_id = $1`, `DELETE FROM attempt_log WHERE campaign_id = $1`,
		`DELETE FROM runs WHERE campaign_id = $1`, `DELETE FROM relay_log WHERE campaign_id = $1`,
		`DELETE FROM workers WHERE campaign_id = $1`, `DELETE FROM seed_log WHERE campaign_id = $1`,
		`DELETE FROM campaigns WHERE id = $1`} {
		b.Queue(q, campaignID)
	}
	return wrap("remove campaign", s.pool.SendBatch(ctx, b).Close())
}

// Secret is the ledger's secret of name: 32 random bytes made on first
// use; workers making it at once all get the one stored first.
func (s *Store) Secret(ctx context.Context, name string) ([]byte, error) {
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("ledger: secret: %w", err)
	}
	var key []byte
	var err error
	// A second try sees the secret a worker making it at the same moment
	// committed after this statement's snapshot was taken.
	for try := 0; try < 2; try++ {
		err = s.pool.QueryRow(ctx, `WITH ins AS (INSERT INTO meta (key, bytes) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING RETURNING bytes)
			SELECT bytes FROM ins UNION ALL SELECT bytes FROM meta WHERE key = $1 LIMIT 1`, "secret:"+name, fresh).Scan(&key)
		if !errors.Is(err, pgx.ErrNoRows) {
			break
		}
	}
	if err != nil {
		return nil, wrap("secret", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("%w: the ledger's %s secret is %d bytes, not 32", ledger.ErrDamaged, name, len(key))
	}
	return key, nil
}

// SuppressionGen changes whenever addresses are added to the list.
func (s *Store) SuppressionGen(ctx context.Context) (int64, error) {
	var gen int64
	err := s.pool.QueryRow(ctx, `SELECT value FROM meta WHERE key = 'suppress_gen'`).Scan(&gen)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return gen, wrap("suppression generation", err)
}

// SuppressedSince lists the addresses suppressed at or after since.
func (s *Store) SuppressedSince(ctx context.Context, since time.Time) (map[string]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT address, reason FROM suppressions WHERE created_at >= $1`, ledger.Millis(since))
	if err != nil {
		return nil, wrap("recent suppressions", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var addr, reason string
		if err := rows.Scan(&addr, &reason); err != nil {
			return nil, wrap("recent suppressions", err)
		}
		out[addr] = reason
	}
	return out, wrap("recent suppressions", rows.Err())
}

// bumpSuppressGen marks the suppression list changed, for runs under way.
const bumpSuppressGen = `INSERT INTO meta (key, value) VALUES ('suppress_gen', 1)
	ON CONFLICT (key) DO UPDATE SET value = meta.value + 1`

// waitingStates are the stored states of rows not final yet ('new' is a
// row no run has claimed: it reads as pending), as SQL.
const waitingStates = `('new', 'pending', 'deferred')`
