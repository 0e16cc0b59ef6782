package cmd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mailblast/mailblast/campaign"
	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/ledger/postgres"
)

// connectTimeout bounds opening the shared ledger: a database that does
// not answer is a failure to report, not a hang.
const connectTimeout = 30 * time.Second

// openShared opens the PostgreSQL ledger of ledger.url. Opening applies
// any migration it lacks (under an advisory lock) and takes this
// process's lease, renewed until Close. Errors never show the password.
func openShared(cfg *Config) (*postgres.Store, error) {
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	s, err := postgres.Open(ctx, cfg.Ledger.URL, postgres.Options{
		Worker: postgres.DefaultWorker(), Lease: cfg.Ledger.Lease, PasswordFile: cfg.Ledger.PasswordFile,
		Succeeds: func(worker string) bool { return predecessor(cfg.StateDir, worker) },
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", errLedger, redactedURL(cfg.Ledger.URL), err)
	}
	return s, nil
}

// sharedStore is openShared as a ledger.Store: a failed open is a nil
// interface, not one holding a nil *postgres.Store.
func sharedStore(cfg *Config) (ledger.Store, error) {
	s, err := openShared(cfg)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// predecessor reports whether worker is an earlier process of this state
// directory that has exited: the wire journal here is its, and only the
// rows on it were on the wire when it died. Another machine's worker, or
// one of this machine with another state directory, has no journal here.
func predecessor(stateDir, worker string) bool {
	return campaign.RanHere(stateDir, worker) && postgres.SameHostExited(worker)
}

// fencedHint says what a fenced worker means and what to do.
const fencedHint = `mailblast: this worker's lease on the shared ledger lapsed (a pause or a cut to
the database longer than ledger.lease) and other workers may have taken its
rows over; it stopped without writing over them. Nothing is lost: run
"mailblast resume" (cron is fine) to join the campaign again.`

// fencedError is a worker stopped by its ledger's fencing; it exits 75.
type fencedError struct{ err error }

func (e *fencedError) Error() string { return e.err.Error() + "\n" + fencedHint }
func (e *fencedError) Unwrap() error { return e.err }

// fenced wraps a fencing error with its hint; other errors pass.
func fenced(err error) error {
	var fe *fencedError
	if err == nil || !errors.Is(err, postgres.ErrFenced) || errors.As(err, &fe) {
		return err
	}
	return &fencedError{err}
}

// ledgerName is where the ledger is, for messages: the state directory,
// or the shared ledger's URL without its password.
func ledgerName(cfg *Config) string {
	if cfg.Ledger.shared() {
		return redactedURL(cfg.Ledger.URL)
	}
	return absPath(cfg.StateDir)
}
