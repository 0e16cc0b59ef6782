package e2e

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailblast/mailblast/ledger/postgres/pgtest"
	"github.com/mailblast/mailblast/sender/sendertest"
)

// TestPGPasswordFile: a database that wants a password is reached with
// ledger.password_file; a wrong one is refused without the password in
// any message, and a --ledger-url holding one is refused (78) before
// anything connects.
func TestPGPasswordFile(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	dbURL, password := pgtest.StartWithPassword(t)
	w := forServer(t, srv, 3)
	pwFile := filepath.Join(w.dir, "pg.pass")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w.env = append(w.env, "MAILBLAST_LEDGER_URL="+dbURL, "MAILBLAST_LEDGER_PASSWORD_FILE="+pwFile)
	w.mustRun(0, "send", "list.csv")
	if got := srv.Count(); got != 3 {
		t.Fatalf("relay got %d of 3", got)
	}

	wrong := "not-" + password
	if err := os.WriteFile(pwFile, []byte(wrong+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := w.run("status")
	if code != 74 || strings.Contains(out+stderr, wrong) {
		t.Errorf("wrong password: exit %d (want 74), output shows it: %v\n%s%s", code, strings.Contains(out+stderr, wrong), out, stderr)
	}

	u, _ := url.Parse(dbURL)
	u.User = url.UserPassword(u.User.Username(), password)
	_, stderr, code = w.run("status", "--ledger-url", u.String())
	if code != 78 || strings.Contains(stderr, password) {
		t.Errorf("--ledger-url with a password: exit %d (want 78), message shows it: %v\n%s", code, strings.Contains(stderr, password), stderr)
	}
}

// TestPGLedgerMigrate: ledger migrate brings a new database to the schema
// and says so; without ledger.url it is a configuration error (78).
func TestPGLedgerMigrate(t *testing.T) {
	w := newWorkspace(t, "127.0.0.1", 1, 1)
	_, stderr, code := w.run("ledger", "migrate")
	if code != 78 || !strings.Contains(stderr, "ledger.url") {
		t.Errorf("migrate without ledger.url: exit %d, want 78 naming the key\n%s", code, stderr)
	}
	onPostgres(w, pgtest.Start(t))
	for range 2 { // the second finds nothing to do
		if out := w.mustRun(0, "ledger", "migrate"); !strings.Contains(out, "schema up to date") {
			t.Errorf("migrate said %q", out)
		}
	}
	if out := w.mustRun(0, "status"); !strings.Contains(out, "no campaigns in postgres://") {
		t.Errorf("status after migrate: %q, want it to name the database", out)
	}
}
