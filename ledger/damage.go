package ledger

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrDamaged means the file where the ledger should be is not a sound
// mailblast ledger: empty, another program's file, or corrupt.
var ErrDamaged = errors.New("the ledger is damaged")

// applicationID marks a SQLite file as a mailblast ledger ("mblt"), so a
// foreign database is never taken for one.
const applicationID = 0x6d626c74

// sqliteMagic begins every SQLite database file.
var sqliteMagic = []byte("SQLite format 3\x00")

// Damaged reports whether err says the ledger file is damaged: ErrDamaged
// from the checks at open, or SQLite finding corruption while reading.
func Damaged(err error) bool {
	if errors.Is(err, ErrDamaged) {
		return true
	}
	code := sqliteCode(err)
	return code == sqlite3.SQLITE_CORRUPT || code == sqlite3.SQLITE_NOTADB
}

// StorageFailed reports whether err is the ledger's storage failing under
// it: damage, a full disk, an I/O error. Such a ledger keeps its last
// commit; no statement half-applied.
func StorageFailed(err error) bool {
	switch sqliteCode(err) {
	case sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN:
		return true
	}
	return Damaged(err) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EIO)
}

// Full reports whether err is a full disk.
func Full(err error) bool {
	return sqliteCode(err) == sqlite3.SQLITE_FULL || errors.Is(err, syscall.ENOSPC)
}

// sqliteCode is the primary result code of the SQLite error in err, 0 if
// there is none. Extended codes (SQLITE_IOERR_WRITE, ...) carry the primary
// one in their low byte.
func sqliteCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() & 0xff
	}
	return 0
}

// damaged wraps err, found in the ledger at path, as ErrDamaged.
func damaged(path string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrDamaged, path, err)
}

// checkHeader refuses a file that cannot be a ledger before SQLite opens
// it: SQLite takes an empty file for a new database, and a campaign whose
// ledger was emptied would be sent again from the first row.
func checkHeader(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	defer f.Close()
	head := make([]byte, 100)
	n, err := io.ReadFull(f, head)
	switch {
	case n == 0 && (err == io.EOF || err == nil):
		return damaged(path, errors.New("the file is empty (0 bytes), not a ledger"))
	case err != nil && err != io.ErrUnexpectedEOF:
		return fmt.Errorf("ledger: %w", err)
	case n < len(head) || !bytes.Equal(head[:len(sqliteMagic)], sqliteMagic):
		return damaged(path, errors.New("the file is not an SQLite database"))
	}
	return nil
}

// checkOwner refuses a sound SQLite database that is not a ledger. A
// ledger written before the application_id existed, or rebuilt by
// sqlite3's .recover, has none but has our tables; it gets the id.
func checkOwner(db *sql.DB, path string) error {
	var id int64
	if err := db.QueryRow(`PRAGMA application_id`).Scan(&id); err != nil {
		return err
	}
	switch {
	case id == applicationID:
		return nil
	case id != 0:
		return damaged(path, fmt.Errorf("the file is another program's database (application_id %#x)", id))
	}
	var n int
	err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('campaigns', 'recipients')`).Scan(&n)
	if err != nil {
		return err
	}
	if n != 2 {
		return damaged(path, errors.New("the file is an SQLite database without mailblast's tables"))
	}
	// Best effort: a ledger in a read-only state directory still reads.
	_, _ = db.Exec(fmt.Sprintf(`PRAGMA application_id = %d`, applicationID))
	return nil
}

// quickChecked holds the paths quickCheck found sound in this process.
var quickChecked sync.Map

// quickCheck runs SQLite's quick_check: every page's structure, without
// matching indexes to their tables (integrity_check, in Check, does that).
// A damaged ledger must stop a run before its wrong answers send anything.
// It reads the whole file (about 3 s for a million recipients, see
// BENCHMARKS.md), so it runs once per ledger per process: resume opens
// the ledger once to list the campaigns, then once per campaign.
func quickCheck(db *sql.DB, path string) error {
	if _, ok := quickChecked.Load(path); ok {
		return nil
	}
	if err := pragmaCheck(db, path, "quick_check"); err != nil {
		return err
	}
	quickChecked.Store(path, true)
	return nil
}

// pragmaCheck runs quick_check or integrity_check and turns the problems
// it lists into an ErrDamaged error.
func pragmaCheck(db *sql.DB, path, pragma string) error {
	rows, err := db.Query(`PRAGMA ` + pragma)
	if err != nil {
		return err
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return err
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(problems) == 0 {
		return nil
	}
	more := ""
	if len(problems) > 1 {
		more = fmt.Sprintf(" (and %d more)", len(problems)-1)
	}
	return damaged(path, fmt.Errorf("%s: %s%s", pragma, strings.TrimSpace(problems[0]), more))
}

// restrictModes makes an existing ledger, and the WAL and shared memory
// files SQLite creates with the ledger's mode, readable by their owner
// only: they hold addresses and replies. Best effort: a ledger owned by
// someone else keeps its mode.
func restrictModes(path string) {
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o077 != 0 {
			_ = os.Chmod(p, fi.Mode().Perm()&0o700)
		}
	}
}

// create makes a new, empty ledger at path when there is no file there.
// It is built under a temporary name (mode 0600, with the schema and the
// application_id) and linked into place, so another process never sees a
// half-made ledger, and two runs starting at once share one.
func create(path string) error {
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		return nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".ledger-new-*.db")
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	tmp := f.Name()
	f.Close()
	// Gone already once renamed into place; otherwise an empty ledger, no
	// one's data, is all a failed removal leaves behind.
	defer func() { _ = os.Remove(tmp) }()
	if err := initialise(tmp); err != nil {
		return fmt.Errorf("ledger: creating %s: %w", path, err)
	}
	err = os.Link(tmp, path)
	if err == nil || errors.Is(err, os.ErrExist) {
		return nil // ours, or another run's made meanwhile
	}
	// A file system without hard links: rename, unless another run has
	// made the ledger meanwhile.
	if _, serr := os.Lstat(path); !errors.Is(serr, os.ErrNotExist) {
		return nil
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	return nil
}

func initialise(path string) (err error) {
	db, err := open(path, "synchronous(FULL)")
	if err != nil {
		return err
	}
	// The file becomes the ledger: one that did not close cleanly is not
	// linked into place.
	defer func() {
		if cerr := db.Close(); err == nil {
			err = cerr
		}
	}()
	if err := setUp(db); err != nil {
		return err
	}
	_, err = db.Exec(fmt.Sprintf(`PRAGMA application_id = %d`, applicationID))
	return err
}

// Check runs SQLite's integrity_check on the existing ledger at path:
// nil when it is sound, an error wrapping ErrDamaged listing the first
// problem when not. It reads only; a missing file wraps fs.ErrNotExist.
func Check(path string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	if err := checkHeader(path); err != nil {
		return err
	}
	db, err := open(path, "busy_timeout(10000)", "query_only(1)")
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }() // read only: a failed close loses nothing
	var id int64
	if err := db.QueryRow(`PRAGMA application_id`).Scan(&id); err != nil {
		return damagedIf(path, err)
	}
	if id != applicationID && id != 0 {
		return damaged(path, fmt.Errorf("the file is another program's database (application_id %#x)", id))
	}
	return damagedIf(path, pragmaCheck(db, path, "integrity_check"))
}

// damagedIf names path in a SQLite error that says the file is damaged.
func damagedIf(path string, err error) error {
	if err != nil && Damaged(err) && !errors.Is(err, ErrDamaged) {
		return damaged(path, err)
	}
	return err
}
