package postgres

import (
	"context"
	"embed"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the pg_advisory_lock key the migrations are applied
// under ("mailblas" in ASCII): one process migrates, the others wait and
// then find nothing left to do.
const migrationLock = 0x6d61696c626c6173

type migration struct {
	version int
	name    string
	sql     string
}

// Migrate applies, in version order, every migration the database has not
// had, each in its own transaction with its row in schema_migrations.
// Open calls it; `mailblast ledger migrate` may call it alone.
func (s *Store) Migrate(ctx context.Context) error {
	list, err := readMigrations()
	if err != nil {
		return err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("ledger: migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrationLock)); err != nil {
		return fmt.Errorf("ledger: migrate: %w", err)
	}
	// The lock is the session's: released here, or by the server when the
	// connection ends.
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, int64(migrationLock)) //nolint:errcheck
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("ledger: migrate: %w", err)
	}
	var newest int
	if err := conn.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&newest); err != nil {
		return fmt.Errorf("ledger: migrate: %w", err)
	}
	if known := list[len(list)-1].version; newest > known {
		// A newer mailblast migrated this database: its rules may be ones
		// this one does not keep.
		return fmt.Errorf("ledger: the database's schema is version %d, newer than this mailblast knows (%d): upgrade mailblast", newest, known)
	}
	for _, m := range list {
		if err := apply(ctx, conn.Conn(), m); err != nil {
			return err
		}
	}
	return nil
}

// apply runs m unless schema_migrations has it.
func apply(ctx context.Context, conn *pgx.Conn, m migration) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("ledger: migration %s: %w", m.name, err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // after Commit, a no-op
	tag, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2) ON CONFLICT DO NOTHING`, m.version, m.name)
	if err != nil {
		return fmt.Errorf("ledger: migration %s: %w", m.name, err)
	}
	if tag.RowsAffected() == 0 {
		return nil // applied before
	}
	if _, err := tx.Exec(ctx, m.sql); err != nil {
		return fmt.Errorf("ledger: migration %s: %w", m.name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("ledger: migration %s: %w", m.name, err)
	}
	return nil
}

func readMigrations() ([]migration, error) {
	files, err := migrations.ReadDir("migrations")
	if err != nil {
		return nil, fmt.Errorf("ledger: migrations: %w", err)
	}
	var out []migration
	for _, f := range files {
		v, err := strconv.Atoi(strings.SplitN(f.Name(), "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("ledger: migration %s: no version number", f.Name())
		}
		b, err := migrations.ReadFile(path.Join("migrations", f.Name()))
		if err != nil {
			return nil, fmt.Errorf("ledger: migration %s: %w", f.Name(), err)
		}
		out = append(out, migration{version: v, name: f.Name(), sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}
