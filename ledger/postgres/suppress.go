package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mailblast/mailblast/ledger"
)

// AddSuppressions adds the addresses not suppressed yet (one statement,
// the list as arrays) and bumps the generation when any was new.
func (s *Store) AddSuppressions(ctx context.Context, list []ledger.Suppression) (int, error) {
	now := time.Now()
	var addrs, reasons, sources []string
	var at []int64
	for _, sup := range list {
		if sup.Address == "" {
			continue
		}
		t := sup.CreatedAt
		if t.IsZero() {
			t = now
		}
		addrs, reasons, sources, at = append(addrs, sup.Address), append(reasons, sup.Reason), append(sources, sup.Source), append(at, ledger.Millis(t))
	}
	if len(addrs) == 0 {
		return 0, nil
	}
	var added int
	err := s.pool.QueryRow(ctx, `WITH ins AS (
		INSERT INTO suppressions (address, reason, source, created_at)
		SELECT DISTINCT ON (address) * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS l(address, reason, source, created_at)
		ON CONFLICT (address) DO NOTHING RETURNING 1),
	n AS (SELECT COUNT(*) AS n FROM ins),
	gen AS (INSERT INTO meta (key, value) SELECT 'suppress_gen', 1 FROM n WHERE n.n > 0
		ON CONFLICT (key) DO UPDATE SET value = meta.value + 1)
	SELECT n FROM n`, addrs, reasons, sources, at).Scan(&added)
	return added, wrap("suppress", err)
}

// RemoveSuppressions deletes addresses from the list.
func (s *Store) RemoveSuppressions(ctx context.Context, addresses []string) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM suppressions WHERE address = ANY ($1::text[])`, addresses)
	if err != nil {
		return 0, wrap("unsuppress", err)
	}
	return int(tag.RowsAffected()), nil
}

const suppressionCols = `address, reason, source, created_at`

func scanSuppression(row pgx.Row) (ledger.Suppression, error) {
	var sup ledger.Suppression
	var at int64
	err := row.Scan(&sup.Address, &sup.Reason, &sup.Source, &at)
	sup.CreatedAt = ledger.FromMillis(at)
	return sup, err
}

// Suppressions streams the list in address order (byte order, as SQLite
// sorts).
func (s *Store) Suppressions(ctx context.Context, fn func(ledger.Suppression) error) error {
	rows, err := s.pool.Query(ctx, `SELECT `+suppressionCols+` FROM suppressions ORDER BY address COLLATE "C"`)
	if err != nil {
		return wrap("suppressions", err)
	}
	defer rows.Close()
	for rows.Next() {
		sup, err := scanSuppression(rows)
		if err != nil {
			return wrap("suppressions", err)
		}
		if err := fn(sup); err != nil {
			return err
		}
	}
	return wrap("suppressions", rows.Err())
}

// Suppressed looks one address up.
func (s *Store) Suppressed(ctx context.Context, address string) (ledger.Suppression, bool, error) {
	sup, err := scanSuppression(s.pool.QueryRow(ctx, `SELECT `+suppressionCols+` FROM suppressions WHERE address = $1`, address))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return ledger.Suppression{}, false, nil
	case err != nil:
		return ledger.Suppression{}, false, wrap("suppressed", err)
	}
	return sup, true, nil
}

// ApplySuppressions skips the campaign's waiting rows whose address was
// suppressed since the import, but for those a live worker holds: their
// outcome is that worker's to write (its run skips them on hearing of the
// suppression).
func (s *Store) ApplySuppressions(ctx context.Context, campaignID int64, at time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE recipients AS r SET state = 'skipped', next_attempt = 0, updated_at = $1,
		text = 'suppressed: ' || s.reason, held = false FROM suppressions AS s
		WHERE s.address = r.norm AND r.norm <> '' AND r.campaign_id = $2 AND r.state IN `+waitingStates+`
			AND NOT r.claimed AND (NOT r.held OR r.owner <> ALL (`+liveTokens+`))`,
		ledger.Millis(at), campaignID)
	if err != nil {
		return 0, wrap("apply suppressions", err)
	}
	return int(tag.RowsAffected()), nil
}
