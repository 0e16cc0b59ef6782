package ledger

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

const schema = `
CREATE TABLE IF NOT EXISTS campaigns (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE,
	list_path TEXT NOT NULL,
	list_digest TEXT NOT NULL,
	template_path TEXT NOT NULL,
	template_digest TEXT NOT NULL,
	settings TEXT NOT NULL,
	imported INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	frontier INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS recipients (
	campaign_id INTEGER NOT NULL,
	row INTEGER NOT NULL,
	email TEXT NOT NULL,
	byte_offset INTEGER NOT NULL,
	state TEXT NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	next_attempt INTEGER NOT NULL DEFAULT 0,
	first_try INTEGER NOT NULL DEFAULT 0,
	code INTEGER NOT NULL DEFAULT 0,
	enhanced TEXT NOT NULL DEFAULT '',
	text TEXT NOT NULL DEFAULT '',
	message_id TEXT NOT NULL DEFAULT '',
	recovered INTEGER NOT NULL DEFAULT 0,
	updated_at INTEGER NOT NULL DEFAULT 0,
	norm TEXT NOT NULL DEFAULT '',
	utf8 INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (campaign_id, row)
) WITHOUT ROWID;
DROP INDEX IF EXISTS recipients_state;
DROP INDEX IF EXISTS recipients_open;
CREATE INDEX IF NOT EXISTS recipients_waiting ON recipients (campaign_id, state, row)
	WHERE state IN ('pending', 'deferred', 'inflight');
CREATE TABLE IF NOT EXISTS claims (
	campaign_id INTEGER NOT NULL,
	first INTEGER NOT NULL,
	last INTEGER NOT NULL,
	due_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS attempt_log (
	campaign_id INTEGER NOT NULL,
	row INTEGER NOT NULL,
	n INTEGER NOT NULL,
	at INTEGER NOT NULL,
	state TEXT NOT NULL,
	code INTEGER NOT NULL,
	enhanced TEXT NOT NULL,
	text TEXT NOT NULL,
	relay TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (campaign_id, row, n)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS suppressions (
	address TEXT NOT NULL PRIMARY KEY,
	reason TEXT NOT NULL,
	source TEXT NOT NULL,
	created_at INTEGER NOT NULL
) WITHOUT ROWID;
`

// addedColumns are the columns a ledger written by an older mailblast
// lacks; migrate adds them.
var addedColumns = []struct{ table, name, def string }{
	{"recipients", "norm", "TEXT NOT NULL DEFAULT ''"},
	{"recipients", "utf8", "INTEGER NOT NULL DEFAULT 0"},
	{"campaigns", "frontier", "INTEGER NOT NULL DEFAULT 0"},
	{"campaigns", "abandoned", "INTEGER NOT NULL DEFAULT 0"},
	{"attempt_log", "relay", "TEXT NOT NULL DEFAULT ''"},
}

// indexes need the added columns, so they come after migrate.
const indexes = runsSchema + feedbackSchema + relaySchema + seedSchema + quotaSchema + `
CREATE INDEX IF NOT EXISTS recipients_norm ON recipients (campaign_id, norm, row) WHERE norm <> '';
`

// SQLite is the Store kept in one database file.
type SQLite struct {
	db     *sql.DB
	rdb    *sql.DB // Due's own connection, so it never waits behind a write
	remove string  // a scratch ledger's file, deleted by Close

	mu    sync.Mutex
	stmts map[stmtKey]*sql.Stmt // the hot path's statements, prepared once
}

// prepare prepares the hot path's statements once, on the store: with
// one connection that must happen outside any transaction.
func (s *SQLite) prepare(qs ...string) error {
	for _, q := range qs {
		if _, err := s.cached(s.db, q); err != nil {
			return err
		}
	}
	return nil
}

// stmt is q, which prepare has prepared, bound to tx.
func (s *SQLite) stmt(tx *sql.Tx, q string) *sql.Stmt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return tx.Stmt(s.stmts[stmtKey{s.db, q}])
}

type stmtKey struct {
	db *sql.DB
	q  string
}

// cached is q prepared on db, once. mu is not held while preparing: a
// transaction holding the connection may be waiting for it.
func (s *SQLite) cached(db *sql.DB, q string) (*sql.Stmt, error) {
	k := stmtKey{db, q}
	s.mu.Lock()
	st, ok := s.stmts[k]
	s.mu.Unlock()
	if ok {
		return st, nil
	}
	st, err := db.Prepare(q)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if had, ok := s.stmts[k]; ok {
		_ = st.Close() // never used: another goroutine's is kept
		return had, nil
	}
	if s.stmts == nil {
		s.stmts = map[stmtKey]*sql.Stmt{}
	}
	s.stmts[k] = st
	return st, nil
}

// Open opens the ledger file at path, creating it only when no file is
// there: an empty or foreign file, or one SQLite's quick_check finds
// damaged, is an error wrapping ErrDamaged, so a damaged ledger never
// answers wrongly (a campaign sent again, totals that are not). The
// directory is made 0700 and the files are 0600: they hold addresses.
//
// WAL with synchronous=FULL makes every commit durable across power loss;
// callers batch their writes so that costs one fsync per batch, not per
// message.
func Open(path string) (*SQLite, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	if err := create(path); err != nil {
		return nil, err
	}
	if err := checkHeader(path); err != nil {
		return nil, err
	}
	restrictModes(path)
	db, err := open(path, "journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(ON)")
	if err != nil {
		return nil, err
	}
	if err := verify(db, path); err != nil {
		_ = db.Close() // the error returned says what is wrong
		return nil, damagedIf(path, err)
	}
	// A reader in WAL mode sees the last commit and never blocks the writer.
	rdb, err := open(path, "busy_timeout(10000)", "query_only(1)")
	if err != nil {
		_ = db.Close() // the error returned says what is wrong
		return nil, err
	}
	return &SQLite{db: db, rdb: rdb}, nil
}

// verify checks that db is a sound ledger and brings its schema up to
// date.
func verify(db *sql.DB, path string) error {
	if err := checkOwner(db, path); err != nil {
		return err
	}
	if err := quickCheck(db, path); err != nil {
		return err
	}
	if err := setUp(db); err != nil {
		return fmt.Errorf("ledger: %s: %w", path, err)
	}
	return nil
}

// OpenReadOnly opens an existing ledger for commands that must not change
// it (validate, preview, a dry run). A missing file is an error wrapping
// fs.ErrNotExist; it is not created. A ledger written by an older mailblast
// gets its schema brought up to date first, which changes no data.
func OpenReadOnly(path string) (*SQLite, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	s, err := Open(path)
	if err != nil {
		return nil, err
	}
	if err := s.Close(); err != nil {
		return nil, err
	}
	db, err := open(path, "busy_timeout(10000)", "query_only(1)")
	if err != nil {
		return nil, err
	}
	return &SQLite{db: db, rdb: db}, nil
}

// OpenScratch creates a throwaway ledger in a temporary file under dir (""
// for the system's), deleted by Close. Validate and dry runs import a list
// into it to apply the very rules of a real import (duplicates, the
// suppression list) without a map of every address in memory. Nothing in it
// is durable: no journal, no fsync.
func OpenScratch(dir string) (*SQLite, error) {
	f, err := os.CreateTemp(dir, "mailblast-scratch-*.db")
	if err != nil {
		return nil, fmt.Errorf("ledger: scratch file: %w", err)
	}
	path := f.Name()
	f.Close()
	db, err := open(path, "journal_mode(OFF)", "synchronous(FULL)", "temp_store(FILE)")
	if err == nil {
		if err = setUp(db); err != nil {
			_ = db.Close() // the error returned says what is wrong
		}
	}
	if err != nil {
		_ = os.Remove(path) // at worst an empty file in a temporary directory
		return nil, fmt.Errorf("ledger: scratch: %w", err)
	}
	return &SQLite{db: db, rdb: db, remove: path}, nil
}

func open(path string, pragmas ...string) (*sql.DB, error) {
	q := url.Values{}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("ledger: open %s: %w", path, err)
	}
	// One connection: SQLite has one writer anyway, and a single conn keeps
	// the pragmas and avoids lock contention between our own goroutines.
	db.SetMaxOpenConns(1)
	return db, nil
}

// setUp creates what is missing: tables, columns added since, indexes.
func setUp(db *sql.DB) error {
	if _, err := db.Exec(schema); err != nil {
		return err
	}
	if err := migrate(db); err != nil {
		return fmt.Errorf("upgrading the schema: %w", err)
	}
	_, err := db.Exec(indexes)
	return err
}

// migrate adds the columns a ledger from an older mailblast lacks, in one
// transaction so two processes starting at once cannot both add them.
func migrate(db *sql.DB) error {
	have, err := columns(db)
	if err != nil || len(have) == 0 {
		return err
	}
	missing := false
	for _, c := range addedColumns {
		missing = missing || !have[c.table+"."+c.name]
	}
	if !missing {
		return nil
	}
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if have, err = columns(tx); err != nil {
		return err
	}
	for _, c := range addedColumns {
		if have[c.table+"."+c.name] {
			continue
		}
		if _, err := tx.Exec(`ALTER TABLE ` + c.table + ` ADD COLUMN ` + c.name + ` ` + c.def); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// columns names the existing columns as "table.column".
func columns(q interface {
	Query(string, ...any) (*sql.Rows, error)
}) (map[string]bool, error) {
	rows, err := q.Query(`SELECT 'recipients.' || name FROM pragma_table_info('recipients')
		UNION ALL SELECT 'campaigns.' || name FROM pragma_table_info('campaigns')
		UNION ALL SELECT 'attempt_log.' || name FROM pragma_table_info('attempt_log')`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		have[name] = true
	}
	return have, rows.Err()
}

// Close closes the database file (and deletes a scratch ledger's).
func (s *SQLite) Close() error {
	s.mu.Lock()
	for _, st := range s.stmts {
		_ = st.Close() // closing the database frees them anyway
	}
	s.stmts = nil
	s.mu.Unlock()
	var errs []error
	if s.rdb != s.db {
		errs = append(errs, s.rdb.Close())
	}
	errs = append(errs, s.db.Close())
	if s.remove != "" {
		// A scratch ledger left behind holds a list's addresses.
		if err := os.Remove(s.remove); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("ledger: scratch: %w", err))
		}
	}
	return errors.Join(errs...)
}

// CreateCampaign inserts c and sets its ID.
func (s *SQLite) CreateCampaign(ctx context.Context, c *Campaign) error {
	if c.CreatedAt.IsZero() {
		c.CreatedAt = time.Now()
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("ledger: create campaign %q: %w", c.Name, err)
	}
	defer tx.Rollback()
	if err := tx.QueryRowContext(ctx, nextCampaignID, firstCampaignID()).Scan(&c.ID); err != nil {
		return fmt.Errorf("ledger: create campaign %q: %w", c.Name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO campaigns
		(id, name, list_path, list_digest, template_path, template_digest, settings, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.Name, c.ListPath, c.ListDigest, c.TemplatePath, c.TemplateDigest, string(c.Settings), Millis(c.CreatedAt)); err != nil {
		return fmt.Errorf("ledger: create campaign %q: %w", c.Name, err)
	}
	return tx.Commit()
}

// nextCampaignID never gives an ID twice, not even after `campaign rm`
// of the newest campaign (SQLite's rowid would): a campaign's ID is in
// every VERP token and one-click link it sent, and last month's link must
// not reach whoever holds that row of a new campaign by the same name.
const nextCampaignID = `INSERT INTO meta (key, value)
	VALUES ('campaign_seq', MAX(?, (SELECT IFNULL(MAX(id), 0) + 1 FROM campaigns)))
	ON CONFLICT (key) DO UPDATE SET value = MAX(value + 1, (SELECT IFNULL(MAX(id), 0) + 1 FROM campaigns))
	RETURNING value`

// firstCampaignID starts a new ledger's IDs at random, from 2^20 to 2^28
// (a 4-byte varint in a token): links of a ledger given up for a fresh
// state directory, signed with the same unsubscribe secret, name no
// campaign of the new one.
func firstCampaignID() int64 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return 1<<20 + int64(binary.BigEndian.Uint32(b[:])%(1<<28-1<<20))
}

const campaignCols = `id, name, list_path, list_digest, template_path, template_digest, settings, imported, created_at, abandoned`

func scanCampaign(sc interface{ Scan(...any) error }) (Campaign, error) {
	var c Campaign
	var settings string
	var created int64
	err := sc.Scan(&c.ID, &c.Name, &c.ListPath, &c.ListDigest, &c.TemplatePath, &c.TemplateDigest, &settings, &c.Imported, &created, &c.Abandoned)
	c.Settings = []byte(settings)
	c.CreatedAt = FromMillis(created)
	return c, err
}

// Campaign looks a campaign up by name.
func (s *SQLite) Campaign(ctx context.Context, name string) (Campaign, error) {
	c, err := scanCampaign(s.db.QueryRowContext(ctx, `SELECT `+campaignCols+` FROM campaigns WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return c, err
}

// Campaigns lists every campaign, oldest first.
func (s *SQLite) Campaigns(ctx context.Context) ([]Campaign, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+campaignCols+` FROM campaigns ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Campaign
	for rows.Next() {
		c, err := scanCampaign(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
