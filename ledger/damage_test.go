package ledger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// ledgerWithRows writes a closed ledger of rows recipients and returns its
// path.
func ledgerWithRows(t *testing.T, rows int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state", "ledger.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := Campaign{Name: "nov", Settings: []byte("{}")}
	if err := s.CreateCampaign(ctx, &c); err != nil {
		t.Fatal(err)
	}
	im, _ := s.Import(ctx, c.ID)
	for r := 2; r < rows+2; r++ {
		email := fmt.Sprintf("user%d@example.com", r)
		if err := im.Add(Recipient{Row: r, Email: email, Key: email}); err != nil {
			t.Fatal(err)
		}
	}
	if err := im.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func wantDamaged(t *testing.T, err error) {
	t.Helper()
	if err == nil || !errors.Is(err, ErrDamaged) || !Damaged(err) || !StorageFailed(err) {
		t.Fatalf("err %v, want ErrDamaged", err)
	}
}

func TestOpenRefusesEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	os.WriteFile(path, nil, 0o600)
	_, err := Open(path)
	wantDamaged(t, err)
	if fi, _ := os.Stat(path); fi.Size() != 0 {
		t.Errorf("Open wrote %d bytes into the empty file", fi.Size())
	}
	wantDamaged(t, Check(path))
}

func TestOpenRefusesForeignFiles(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "text.db")
	os.WriteFile(text, []byte("hello, this is not a database at all; it is long enough to pass 100 bytes of header, surely it is now.\n"), 0o600)
	_, err := Open(text)
	wantDamaged(t, err)

	for name, q := range map[string]string{
		"other-tables.db": `CREATE TABLE notes (x TEXT)`,
		"other-app.db":    `CREATE TABLE campaigns (x); CREATE TABLE recipients (x); PRAGMA application_id = 42`,
	} {
		path := filepath.Join(dir, name)
		db, _ := open(path)
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
		db.Close()
		_, err := Open(path)
		wantDamaged(t, err)
	}
}

// TestOpenAdoptsLedgerWithoutApplicationID: a ledger from before the
// application_id, or rebuilt by sqlite3's .recover, opens and gets it.
func TestOpenAdoptsLedgerWithoutApplicationID(t *testing.T) {
	path := ledgerWithRows(t, 10)
	db, _ := open(path)
	db.Exec(`PRAGMA application_id = 0`)
	db.Close()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var id int64
	s.db.QueryRow(`PRAGMA application_id`).Scan(&id)
	s.Close()
	if id != applicationID {
		t.Errorf("application_id %#x", id)
	}
}

func TestQuickCheckFindsGarbage(t *testing.T) {
	path := ledgerWithRows(t, 5000)
	if err := Check(path); err != nil {
		t.Fatalf("sound ledger: %v", err)
	}
	f, _ := os.OpenFile(path, os.O_RDWR, 0)
	fi, _ := f.Stat()
	junk := make([]byte, 4096)
	for i := range junk {
		junk[i] = byte(i*7 + 3)
	}
	f.WriteAt(junk, fi.Size()/2/4096*4096)
	f.Close()
	quickChecked.Clear() // as a new process would
	_, err := Open(path)
	wantDamaged(t, err)
	wantDamaged(t, Check(path))
}

func TestFilesOwnerOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "ledger.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	c := Campaign{Name: "x", Settings: []byte("{}")}
	s.CreateCampaign(context.Background(), &c) // the WAL now exists
	for p, want := range map[string]os.FileMode{filepath.Dir(path): 0o700, path: 0o600, path + "-wal": 0o600, path + "-shm": 0o600} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want %o", filepath.Base(p), fi.Mode(), err, want)
		}
	}
	s.Close()
	os.Chmod(path, 0o644)
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("existing ledger left %o", fi.Mode().Perm())
	}
}

// TestFullIsStorageFailure: a real SQLITE_FULL, from a ledger capped by
// max_page_count, is classified as a full disk.
func TestFullIsStorageFailure(t *testing.T) {
	s, c := emptyCampaign(t)
	if _, err := s.db.Exec(`PRAGMA max_page_count = 20`); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	im, _ := s.Import(ctx, c.ID)
	var err error
	for r := 2; r < 20000 && err == nil; r++ {
		email := fmt.Sprintf("user%d@example.com", r)
		err = im.Add(Recipient{Row: r, Email: email, Key: email})
	}
	if err == nil {
		err = im.Commit()
	}
	if !Full(err) || !StorageFailed(err) || Damaged(err) {
		t.Fatalf("err %v: want a full disk", err)
	}
}
