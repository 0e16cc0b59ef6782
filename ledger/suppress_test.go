package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// importRows imports one row per key (row numbers from 2) into a new
// campaign of s and returns the rows by number.
func importKeys(t *testing.T, s *SQLite, name string, keys ...string) (Campaign, map[int]Recipient) {
	t.Helper()
	ctx := context.Background()
	c := Campaign{Name: name, Settings: []byte("{}")}
	if err := s.CreateCampaign(ctx, &c); err != nil {
		t.Fatal(err)
	}
	im, err := s.Import(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		r := Recipient{Row: i + 2, Email: k, Key: k}
		if k == "" {
			r.State, r.Text = Skipped, "invalid address: empty"
		}
		if err := im.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := im.Commit(); err != nil {
		t.Fatal(err)
	}
	return c, rowsOf(t, s, c.ID)
}

func rowsOf(t *testing.T, s *SQLite, id int64) map[int]Recipient {
	t.Helper()
	got := map[int]Recipient{}
	err := s.Recipients(context.Background(), id, "", func(r Recipient) error { got[r.Row] = r; return nil })
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func openTemp(t *testing.T) *SQLite {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func wantRow(t *testing.T, rows map[int]Recipient, row int, state State, text string) {
	t.Helper()
	r := rows[row]
	if r.State != state || r.Text != text {
		t.Errorf("row %d: %s %q, want %s %q", row, r.State, r.Text, state, text)
	}
}

func TestDuplicatesSkippedAtImport(t *testing.T) {
	s := openTemp(t)
	_, rows := importKeys(t, s, "c", "a@x.org", "b@x.org", "a@x.org", "", "b@x.org", "", "a@x.org", "c@x.org")
	wantRow(t, rows, 2, Pending, "")
	wantRow(t, rows, 3, Pending, "")
	wantRow(t, rows, 4, Skipped, "duplicate of row 2")
	wantRow(t, rows, 5, Skipped, "invalid address: empty") // no key: not anyone's duplicate
	wantRow(t, rows, 6, Skipped, "duplicate of row 3")
	wantRow(t, rows, 7, Skipped, "invalid address: empty")
	wantRow(t, rows, 8, Skipped, "duplicate of row 2")
	wantRow(t, rows, 9, Pending, "")
}

// TestDuplicatesPerCampaign: the same address in two campaigns is sent in
// each; duplicates are counted within one.
func TestDuplicatesPerCampaign(t *testing.T) {
	s := openTemp(t)
	importKeys(t, s, "one", "a@x.org")
	_, rows := importKeys(t, s, "two", "a@x.org", "a@x.org")
	wantRow(t, rows, 2, Pending, "")
	wantRow(t, rows, 3, Skipped, "duplicate of row 2")
}

func TestSuppressedAtImport(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	n, err := s.AddSuppressions(ctx, []Suppression{{Address: "a@x.org", Reason: "unsubscribed", Source: SourceManual}})
	if err != nil || n != 1 {
		t.Fatalf("added %d, %v", n, err)
	}
	c, rows := importKeys(t, s, "c", "a@x.org", "b@x.org", "a@x.org")
	wantRow(t, rows, 2, Skipped, "suppressed: unsubscribed")
	wantRow(t, rows, 3, Pending, "")
	wantRow(t, rows, 4, Skipped, "duplicate of row 2")
	if counts, _ := s.Counts(ctx, c.ID); counts.Skipped != 2 || counts.Pending != 1 {
		t.Errorf("counts %+v", counts)
	}
}

func TestSuppressionList(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	at := time.UnixMilli(1_700_000_000_000)
	n, err := s.AddSuppressions(ctx, []Suppression{
		{Address: "b@x.org", Reason: "first", Source: SourceManual, CreatedAt: at},
		{Address: "a@x.org", Reason: "r", Source: SourceImport},
		{Address: "", Reason: "ignored"},
	})
	if err != nil || n != 2 {
		t.Fatalf("added %d, %v; want 2", n, err)
	}
	if n, _ := s.AddSuppressions(ctx, []Suppression{{Address: "b@x.org", Reason: "second", Source: SourceBounce}}); n != 0 {
		t.Errorf("adding a suppressed address again counted %d", n)
	}
	sup, ok, err := s.Suppressed(ctx, "b@x.org")
	if err != nil || !ok || sup.Reason != "first" || sup.Source != SourceManual || !sup.CreatedAt.Equal(at) {
		t.Errorf("Suppressed: %+v %v %v; want the first entry kept", sup, ok, err)
	}
	var list []string
	s.Suppressions(ctx, func(sup Suppression) error { list = append(list, sup.Address); return nil })
	if fmt.Sprint(list) != "[a@x.org b@x.org]" {
		t.Errorf("list %v", list)
	}
	if n, err := s.RemoveSuppressions(ctx, []string{"a@x.org", "nobody@x.org"}); err != nil || n != 1 {
		t.Errorf("removed %d, %v; want 1", n, err)
	}
	if _, ok, _ := s.Suppressed(ctx, "a@x.org"); ok {
		t.Error("a@x.org still suppressed after remove")
	}
}

// TestBounceSuppresses: a permanent failure with a bad-mailbox code puts the
// address on the list, inside Apply's transaction; other failures do not.
func TestBounceSuppresses(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	c, _ := importKeys(t, s, "c", "a@x.org", "b@x.org", "c@x.org", "d@x.org", "e@x.org")
	now := time.Now()
	err := s.Apply(ctx, c.ID, Batch{Outcomes: []Outcome{
		{Row: 2, State: Failed, Attempted: true, Code: 550, Enhanced: "5.1.1", Text: "550 5.1.1 no such user"},
		{Row: 3, State: Failed, Attempted: true, Code: 550, Enhanced: "5.7.1", Text: "550 5.7.1 spam"},
		{Row: 4, State: Failed, Attempted: true, Code: 553, Enhanced: "5.1.8", Text: "553 5.1.8 bad sender domain"},
		{Row: 5, State: Deferred, Attempted: true, Code: 450, Enhanced: "4.1.1", Text: "450 4.1.1 try later"},
		{Row: 6, State: Failed, Attempted: true, Code: 550, Enhanced: "5.1.10", Text: "550 5.1.10 null MX"},
	}}, now)
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{"a@x.org": true, "b@x.org": false, "c@x.org": false, "d@x.org": false, "e@x.org": true} {
		sup, ok, err := s.Suppressed(ctx, addr)
		if err != nil || ok != want {
			t.Errorf("%s suppressed %v (%v), want %v", addr, ok, err, want)
		}
		if ok && (sup.Source != SourceBounce || sup.Reason == "") {
			t.Errorf("%s: %+v", addr, sup)
		}
	}
	// The next campaign skips the bounced address.
	_, rows := importKeys(t, s, "next", "a@x.org", "b@x.org")
	wantRow(t, rows, 2, Skipped, "suppressed: 550 5.1.1 no such user")
	wantRow(t, rows, 3, Pending, "")
}

func TestMailboxGone(t *testing.T) {
	for code, want := range map[string]bool{"5.1.1": true, "5.1.0": true, "5.1.2": true, "5.1.10": true,
		"5.1.7": false, "5.1.8": false, "5.1.": false, "4.1.1": false, "5.2.2": false, "": false, "5.11.1": false} {
		if got := MailboxGone(code); got != want {
			t.Errorf("MailboxGone(%q) = %v, want %v", code, got, want)
		}
	}
}

// TestApplySuppressionsToWaitingRows: an address suppressed after the
// import is skipped if it is still waiting; what happened stays.
func TestApplySuppressionsToWaitingRows(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	c, _ := importKeys(t, s, "c", "a@x.org", "a@y.org", "a@z.org")
	now := time.Now()
	s.Apply(ctx, c.ID, Batch{Outcomes: []Outcome{
		{Row: 3, State: Deferred, Attempted: true, NextAttempt: now.Add(time.Hour)},
		{Row: 4, State: Sent, Attempted: true, Code: 250},
	}}, now)
	var all []Suppression
	for _, a := range []string{"a@x.org", "a@y.org", "a@z.org"} {
		all = append(all, Suppression{Address: a, Reason: "gone", Source: SourceManual})
	}
	s.AddSuppressions(ctx, all)
	n, err := s.ApplySuppressions(ctx, c.ID, now)
	if err != nil || n != 2 {
		t.Fatalf("applied %d, %v; want 2", n, err)
	}
	rows := rowsOf(t, s, c.ID)
	wantRow(t, rows, 2, Skipped, "suppressed: gone")
	wantRow(t, rows, 3, Skipped, "suppressed: gone")
	if rows[4].State != Sent {
		t.Errorf("sent row became %s", rows[4].State)
	}
	if next, ok, _ := s.NextDue(ctx, c.ID); ok {
		t.Errorf("something still due at %v", next)
	}
}

// TestAddressFormsStored: the ledger keeps the ASCII address for RCPT, the
// key and the SMTPUTF8 mark as given.
func TestAddressFormsStored(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	c := Campaign{Name: "idn", Settings: []byte("{}")}
	s.CreateCampaign(ctx, &c)
	im, _ := s.Import(ctx, c.ID)
	im.Add(Recipient{Row: 2, Email: "Ann@xn--bcher-kva.example", Key: "ann@xn--bcher-kva.example"})
	im.Add(Recipient{Row: 3, Email: "jörg@example.com", Key: "jörg@example.com", UTF8: true})
	if err := im.Commit(); err != nil {
		t.Fatal(err)
	}
	due, err := s.Due(ctx, c.ID, time.Now(), 0, 10)
	if err != nil || len(due) != 2 {
		t.Fatalf("due %+v %v", due, err)
	}
	if r := due[0]; r.Email != "Ann@xn--bcher-kva.example" || r.Key != "ann@xn--bcher-kva.example" || r.UTF8 {
		t.Errorf("row 2: %+v", r)
	}
	if r := due[1]; r.Email != "jörg@example.com" || !r.UTF8 {
		t.Errorf("row 3: %+v", r)
	}
	if r, err := s.Recipient(ctx, c.ID, 3); err != nil || !r.UTF8 || r.State != Pending {
		t.Errorf("Recipient(3): %+v %v", r, err)
	}
	if _, err := s.Recipient(ctx, c.ID, 9); !errors.Is(err, ErrNoRow) {
		t.Errorf("Recipient(9): %v, want ErrNoRow", err)
	}
}

// TestUpgradesOldLedger: a ledger written before the address columns and
// the suppression list existed opens, keeps its rows, and gains both.
func TestUpgradesOldLedger(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`CREATE TABLE campaigns (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, list_path TEXT NOT NULL,
		list_digest TEXT NOT NULL, template_path TEXT NOT NULL, template_digest TEXT NOT NULL, settings TEXT NOT NULL,
		imported INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL);
	CREATE TABLE recipients (campaign_id INTEGER NOT NULL, row INTEGER NOT NULL, email TEXT NOT NULL,
		byte_offset INTEGER NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
		next_attempt INTEGER NOT NULL DEFAULT 0, first_try INTEGER NOT NULL DEFAULT 0, code INTEGER NOT NULL DEFAULT 0,
		enhanced TEXT NOT NULL DEFAULT '', text TEXT NOT NULL DEFAULT '', message_id TEXT NOT NULL DEFAULT '',
		recovered INTEGER NOT NULL DEFAULT 0, updated_at INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (campaign_id, row)) WITHOUT ROWID;
	INSERT INTO campaigns VALUES (1, 'old', 'l.csv', '', 't', '', '{}', 1, 1);
	INSERT INTO recipients (campaign_id, row, email, byte_offset, state) VALUES (1, 2, 'a@x.org', 10, 'pending');`)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	r, err := s.Recipient(ctx, 1, 2)
	if err != nil || r.Email != "a@x.org" || r.Key != "" || r.UTF8 {
		t.Fatalf("old row: %+v %v", r, err)
	}
	if _, err := s.AddSuppressions(ctx, []Suppression{{Address: "a@x.org"}}); err != nil {
		t.Fatal(err)
	}
}

func TestOpenReadOnly(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenReadOnly(filepath.Join(dir, "none.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing ledger: %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "none.db")); err == nil {
		t.Fatal("OpenReadOnly created the file")
	}
	path := filepath.Join(dir, "ledger.db")
	s, _ := Open(path)
	s.AddSuppressions(context.Background(), []Suppression{{Address: "a@x.org", Reason: "r"}})
	s.Close()
	ro, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	ctx := context.Background()
	if _, ok, err := ro.Suppressed(ctx, "a@x.org"); !ok || err != nil {
		t.Errorf("read: %v %v", ok, err)
	}
	if _, err := ro.AddSuppressions(ctx, []Suppression{{Address: "b@x.org"}}); err == nil {
		t.Error("a read-only ledger took a write")
	}
}

func TestScratchRemovedOnClose(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenScratch(dir)
	if err != nil {
		t.Fatal(err)
	}
	importKeys(t, s, "c", "a@x.org", "a@x.org")
	s.Close()
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

// TestScratchLeftBehindIsAnError: a scratch ledger holds a list's
// addresses, so Close says when it could not delete it. A non-empty
// directory in its place makes the removal fail even for root.
func TestScratchLeftBehindIsAnError(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenScratch(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(s.remove, s.remove+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(s.remove, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err == nil {
		t.Error("Close = nil with the scratch file left behind")
	}
}

// BenchmarkImportDuplicates measures import with the duplicate pass; run
// with -benchtime=1x and a large -rows to check memory stays flat.
func BenchmarkImportDuplicates(b *testing.B) {
	const rows = 100_000
	for i := 0; i < b.N; i++ {
		s, err := Open(filepath.Join(b.TempDir(), "l.db"))
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		c := Campaign{Name: "x", Settings: []byte("{}")}
		s.CreateCampaign(ctx, &c)
		im, _ := s.Import(ctx, c.ID)
		for r := 0; r < rows; r++ {
			k := fmt.Sprintf("user%d@example.com", r%(rows*9/10)) // 10% duplicates
			im.Add(Recipient{Row: r + 2, Email: k, Key: k})
		}
		if err := im.Commit(); err != nil {
			b.Fatal(err)
		}
		if n, _ := s.Counts(ctx, c.ID); n.Skipped != rows/10 {
			b.Fatalf("skipped %d, want %d", n.Skipped, rows/10)
		}
		s.Close()
	}
}
