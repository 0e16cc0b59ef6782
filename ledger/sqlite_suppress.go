package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// AddSuppressions adds the addresses not suppressed yet, in one transaction.
func (s *SQLite) AddSuppressions(ctx context.Context, list []Suppression) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("ledger: suppress: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO suppressions (address, reason, source, created_at)
		VALUES (?, ?, ?, ?) ON CONFLICT (address) DO NOTHING`)
	if err != nil {
		return 0, fmt.Errorf("ledger: suppress: %w", err)
	}
	defer func() { _ = stmt.Close() }() // the transaction's end closes it anyway
	now := time.Now()
	added := 0
	for _, sup := range list {
		if sup.Address == "" {
			continue
		}
		at := sup.CreatedAt
		if at.IsZero() {
			at = now
		}
		res, err := stmt.ExecContext(ctx, sup.Address, sup.Reason, sup.Source, Millis(at))
		if err != nil {
			return 0, fmt.Errorf("ledger: suppress %s: %w", sup.Address, err)
		}
		n, _ := res.RowsAffected()
		added += int(n)
	}
	if added > 0 {
		if _, err := tx.ExecContext(ctx, bumpSuppressGen); err != nil {
			return 0, fmt.Errorf("ledger: suppress: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("ledger: suppress: %w", err)
	}
	return added, nil
}

// RemoveSuppressions deletes addresses from the list in one transaction.
func (s *SQLite) RemoveSuppressions(ctx context.Context, addresses []string) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("ledger: unsuppress: %w", err)
	}
	defer tx.Rollback()
	removed := 0
	for _, a := range addresses {
		res, err := tx.ExecContext(ctx, `DELETE FROM suppressions WHERE address = ?`, a)
		if err != nil {
			return 0, fmt.Errorf("ledger: unsuppress %s: %w", a, err)
		}
		n, _ := res.RowsAffected()
		removed += int(n)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("ledger: unsuppress: %w", err)
	}
	return removed, nil
}

const suppressionCols = `address, reason, source, created_at`

func scanSuppression(sc interface{ Scan(...any) error }) (Suppression, error) {
	var sup Suppression
	var at int64
	err := sc.Scan(&sup.Address, &sup.Reason, &sup.Source, &at)
	sup.CreatedAt = FromMillis(at)
	return sup, err
}

// Suppressions streams the list in address order.
func (s *SQLite) Suppressions(ctx context.Context, fn func(Suppression) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT `+suppressionCols+` FROM suppressions ORDER BY address`)
	if err != nil {
		return fmt.Errorf("ledger: suppressions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		sup, err := scanSuppression(rows)
		if err != nil {
			return err
		}
		if err := fn(sup); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Suppressed looks one address up.
func (s *SQLite) Suppressed(ctx context.Context, address string) (Suppression, bool, error) {
	sup, err := scanSuppression(s.db.QueryRowContext(ctx,
		`SELECT `+suppressionCols+` FROM suppressions WHERE address = ?`, address))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Suppression{}, false, nil
	case err != nil:
		return Suppression{}, false, fmt.Errorf("ledger: suppressed: %w", err)
	}
	return sup, true, nil
}

// ApplySuppressions skips waiting rows whose address was suppressed since
// the import (a bounce in another campaign, say).
func (s *SQLite) ApplySuppressions(ctx context.Context, campaignID int64, at time.Time) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("ledger: apply suppressions: %w", err)
	}
	defer tx.Rollback()
	n, err := applySuppressions(tx, campaignID, Millis(at))
	if err != nil {
		return 0, fmt.Errorf("ledger: apply suppressions: %w", err)
	}
	return n, tx.Commit()
}
