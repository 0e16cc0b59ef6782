package cmd

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mailblast/mailblast/ledger/postgres"
)

// TestFencedExit: a fenced write, however wrapped, exits 75 and says what
// to do, once.
func TestFencedExit(t *testing.T) {
	err := ledgerError(fmt.Errorf("campaign x: ledger write failed, stopping: %w", postgres.ErrFenced))
	if code := exitCode(err); code != exitTempFail {
		t.Errorf("exit %d, want %d", code, exitTempFail)
	}
	if n := strings.Count(err.Error(), "mailblast resume"); n != 1 {
		t.Errorf("the hint appears %d times:\n%v", n, err)
	}
	if again := ledgerError(err); again.Error() != err.Error() {
		t.Errorf("wrapped twice:\n%v", again)
	}
}

// TestDatabaseGoneExits74: the shared ledger's database going away is the
// ledger failing (74, with what to do), not an internal error (70).
func TestDatabaseGoneExits74(t *testing.T) {
	err := ledgerError(fmt.Errorf("ledger write failed, stopping: ledger: apply: %w: FATAL", postgres.ErrUnavailable))
	if code := exitCode(err); code != exitIOErr || !strings.Contains(err.Error(), "resume") {
		t.Errorf("exit %d, %v; want %d and what to do", code, err, exitIOErr)
	}
}

// TestLedgerURLWithRawAt: an @ left unencoded in the password made the
// driver take the password's tail for the host: printed in its error and
// sent to the resolver. It is refused, naming no part of the URL.
func TestLedgerURLWithRawAt(t *testing.T) {
	t.Setenv("MAILBLAST_LEDGER_URL", "postgres://postgres:hunter@2secret@127.0.0.1:5544/mailblast")
	_, err := loadConfig(flagSet(), writeConfig(t, "smtp:\n  host: h\n"))
	if exitCode(err) != exitConfig || strings.Contains(fmt.Sprint(err), "2secret") || !strings.Contains(fmt.Sprint(err), "%40") {
		t.Errorf("err %v (exit %d); want exit 78 saying to write %%40, without the password", err, exitCode(err))
	}
	t.Setenv("MAILBLAST_LEDGER_URL", "postgres://postgres:hunter%402secret@127.0.0.1:5544/mailblast?sslcert=/a@b")
	if _, err := loadConfig(flagSet(), writeConfig(t, "smtp:\n  host: h\n")); err != nil {
		t.Errorf("an encoded @ and one in the query: %v", err)
	}
}

// TestLedgerURLOtherSecrets: sslpassword (the client key's passphrase) is
// a secret like password: refused on the command line, masked in
// messages; libpq's key=value form is refused saying so, without the
// password it holds.
func TestLedgerURLOtherSecrets(t *testing.T) {
	u := "postgres://mb@db/mb?sslcert=c.pem&sslkey=k.pem&sslpassword=K3ypass"
	if !urlHasPassword(u) || strings.Contains(redactedURL(u), "K3ypass") {
		t.Errorf("sslpassword: has %v, redacted %q", urlHasPassword(u), redactedURL(u))
	}
	t.Setenv("MAILBLAST_LEDGER_URL", "host=db user=mb password=Pw0rd dbname=mb")
	_, err := loadConfig(flagSet(), writeConfig(t, "smtp:\n  host: h\n"))
	if exitCode(err) != exitConfig || !strings.Contains(fmt.Sprint(err), "key=value") || strings.Contains(fmt.Sprint(err), "Pw0rd") {
		t.Errorf("key=value form: %v", err)
	}
}
