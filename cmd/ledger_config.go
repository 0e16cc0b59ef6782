package cmd

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// LedgerConfig is where the ledger lives: SQLite in state_dir (URL empty)
// or a PostgreSQL database that several machines share. The password is
// never a setting of its own: it comes from PGPASSWORD, ~/.pgpass or
// PasswordFile, so that it never reaches argv.
type LedgerConfig struct {
	URL          string        `mapstructure:"url"`
	PasswordFile string        `mapstructure:"password_file"`
	Lease        time.Duration `mapstructure:"lease"`
}

// ledgerDefaults are the ledger keys' defaults.
func ledgerDefaults() map[string]any {
	return map[string]any{"ledger.url": "", "ledger.password_file": "", "ledger.lease": 60 * time.Second}
}

// shared reports whether the ledger is a PostgreSQL database.
func (l LedgerConfig) shared() bool { return l.URL != "" }

// checkLedger validates the ledger keys. The lease must outlast a few
// heartbeats (every leaseRenewals of it) and a slow commit.
func (c *Config) checkLedger() []error {
	l := c.Ledger
	var errs []error
	if l.Lease < time.Second {
		errs = append(errs, fmt.Errorf("ledger.lease is %v; use 1s or more, like 60s", l.Lease))
	}
	if l.URL == "" {
		return errs
	}
	u, err := url.Parse(l.URL)
	switch {
	case err != nil:
		// url's error quotes the whole URL, which may hold a password.
		errs = append(errs, fmt.Errorf("ledger.url is not a URL; use postgres://USER@HOST/DATABASE"))
	case u.Scheme == "" && strings.Contains(l.URL, "="):
		errs = append(errs, fmt.Errorf("ledger.url is in libpq's key=value form, which is not taken; write it as a URL: postgres://USER@HOST:PORT/DATABASE?sslmode=verify-full"))
	case u.Scheme != "postgres" && u.Scheme != "postgresql":
		errs = append(errs, fmt.Errorf("ledger.url has scheme %q; use postgres://USER@HOST/DATABASE", u.Scheme))
	case strings.Count(authority(l.URL), "@") > 1:
		// The driver cuts at another @ than url does: the password's
		// tail became the host name, printed and sent to the resolver.
		errs = append(errs, fmt.Errorf("ledger.url has more than one @: write an @ in the user or password as %%40"))
	}
	return errs
}

// authority is the part of a URL between :// and the path or query.
func authority(raw string) string {
	_, rest, _ := strings.Cut(raw, "://")
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// refuseSecretFlag refuses a --ledger-url that carries a password (in the
// user part or as password=): other users see a command line in ps, and
// shells keep it in their history.
func refuseSecretFlag(flags *pflag.FlagSet) error {
	f := flags.Lookup("ledger-url")
	if f == nil || !f.Changed || !urlHasPassword(f.Value.String()) {
		return nil
	}
	return configErrorf("--ledger-url holds a password, which other users can read in the process list: " +
		"put it in PGPASSWORD, ~/.pgpass or ledger.password_file (MAILBLAST_LEDGER_PASSWORD_FILE), or give the URL in MAILBLAST_LEDGER_URL")
}

func urlHasPassword(s string) bool {
	u, err := url.Parse(s)
	if err != nil {
		return strings.Contains(s, "@") || strings.Contains(strings.ToLower(s), "password")
	}
	if _, ok := u.User.Password(); ok {
		return true
	}
	q := u.Query()
	return q.Has("password") || q.Has("sslpassword")
}

// redactedURL is u without its password, for messages.
func redactedURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(ledger.url)"
	}
	q := u.Query()
	for _, secret := range []string{"password", "sslpassword"} { // sslpassword: the client key's
		if q.Has(secret) {
			q.Set(secret, "xxxxx")
			u.RawQuery = q.Encode()
		}
	}
	return u.Redacted()
}
