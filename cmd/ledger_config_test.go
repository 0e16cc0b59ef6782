package cmd

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func ledgerFlags(args ...string) *pflag.FlagSet {
	f := flagSet()
	f.String("ledger-url", "", "")
	_ = f.Parse(args)
	return f
}

// TestLedgerKeys: ledger.url from the environment, the lease's default,
// and a file's lease.
func TestLedgerKeys(t *testing.T) {
	t.Setenv("MAILBLAST_LEDGER_URL", "postgres://mb@db.internal/mailblast?sslmode=verify-full")
	cfg, err := loadConfig(ledgerFlags(), writeConfig(t, "ledger:\n  password_file: /run/pg-pass\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Ledger.URL != "postgres://mb@db.internal/mailblast?sslmode=verify-full" || cfg.Ledger.Lease != time.Minute ||
		cfg.Ledger.PasswordFile != "/run/pg-pass" || !cfg.Ledger.shared() {
		t.Errorf("ledger config %+v", cfg.Ledger)
	}
	cfg, err = loadConfig(ledgerFlags(), writeConfig(t, "ledger:\n  lease: 5s\n"))
	if err != nil || cfg.Ledger.Lease != 5*time.Second {
		t.Errorf("lease %v, %v", cfg.Ledger.Lease, err)
	}
}

// TestLedgerURLFlagWithPasswordRefused: a password on the command line
// is refused, and the refusal does not repeat it.
func TestLedgerURLFlagWithPasswordRefused(t *testing.T) {
	for _, u := range []string{"postgres://mb:hunter2@db/mailblast", "postgres://mb@db/mailblast?password=hunter2"} {
		_, err := loadConfig(ledgerFlags("--ledger-url", u), writeConfig(t, ""))
		var ce *configError
		if !errors.As(err, &ce) {
			t.Fatalf("%s: err %v, want a configuration error", u, err)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the refusal repeats the password: %v", err)
		}
	}
	if _, err := loadConfig(ledgerFlags("--ledger-url", "postgres://mb@db/mailblast"), writeConfig(t, "")); err != nil {
		t.Errorf("a URL without a password refused: %v", err)
	}
}

// TestLedgerBadValues: a lease under a second and another scheme are
// configuration errors naming their key.
func TestLedgerBadValues(t *testing.T) {
	for body, want := range map[string]string{
		"ledger:\n  lease: 100ms\n":                    "ledger.lease",
		"ledger:\n  url: mysql://u:pw@db/x\n":          "scheme",
		"ledger:\n  url: \"postgres://u:pw@db/%zz\"\n": "not a URL",
	} {
		_, err := loadConfig(ledgerFlags(), writeConfig(t, body))
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "pw") {
			t.Errorf("%q: err %v, want one naming %q without the password", body, err, want)
		}
	}
}

func TestRedactedURL(t *testing.T) {
	got := redactedURL("postgres://mb:hunter2@db/mailblast?password=hunter2&sslmode=require")
	if strings.Contains(got, "hunter2") {
		t.Errorf("redactedURL kept the password: %s", got)
	}
}
