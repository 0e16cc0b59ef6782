package cmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/mailblast/mailblast/campaign"
	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/ledger/postgres"
	"github.com/mailblast/mailblast/progress"
)

// errLedger marks a ledger that cannot be opened, read or written; it
// exits 74.
var errLedger = errors.New("ledger")

// recoverHint says what to do about a damaged ledger. SQLite commits are
// atomic, so the newest good state may still be whole in the WAL.
const recoverHint = `mailblast: the ledger is damaged; nothing more is sent from it. To recover:
  1. copy the whole state directory first (cp -a), keeping ledger.db-wal and
     ledger.db-shm beside ledger.db: the WAL holds the latest commits; never
     delete it;
  2. the sqlite3 shell may salvage rows from the copy:
     sqlite3 ledger.db .recover | sqlite3 new.db; put new.db in place of
     ledger.db and run "mailblast ledger check";
  3. or start over with a fresh --state-dir and "mailblast suppress import"
     of the suppression list ("mailblast suppress list" on a salvaged ledger,
     or an export you kept). A fresh state directory does not know who was
     mailed already.`

// fullHint says what to do when the disk under the ledger filled up.
const fullHint = `mailblast: the disk holding the ledger is full; the ledger keeps its last
commit. Free some space, then run "mailblast resume".`

const unavailableHint = `mailblast: the shared ledger's database went away or could not be reached;
what was committed is kept. When it is back, run "mailblast resume" (on every worker).`

// ledgerFailure is the ledger's storage failing, wherever it surfaced: it
// exits 74 and its message says how to go on.
type ledgerFailure struct {
	err  error
	hint string
}

func (e *ledgerFailure) Error() string {
	if e.hint == "" {
		return e.err.Error()
	}
	return e.err.Error() + "\n" + e.hint
}

func (e *ledgerFailure) Unwrap() []error { return []error{errLedger, e.err} }

// ledgerError puts a damaged ledger, a full disk or an I/O error in the
// errLedger class, with its hint; other errors pass unchanged.
func ledgerError(err error) error {
	var lf *ledgerFailure
	switch {
	case errors.Is(err, postgres.ErrFenced):
		return fenced(err)
	case err == nil || errors.As(err, &lf):
		return err
	case ledger.Damaged(err):
		return &ledgerFailure{err, recoverHint}
	case ledger.Full(err):
		return &ledgerFailure{err, fullHint}
	case ledger.StorageFailed(err):
		return &ledgerFailure{err: err}
	case postgres.Unavailable(err):
		return &ledgerFailure{err, unavailableHint}
	}
	return err
}

func ledgerPath(cfg *Config) string { return filepath.Join(cfg.StateDir, "ledger.db") }

// openStore opens the ledger the configuration names: the PostgreSQL one
// at ledger.url that several machines share, or SQLite in state_dir.
func openStore(cfg *Config) (ledger.Store, error) {
	if cfg.Ledger.shared() {
		return sharedStore(cfg)
	}
	warnOpenStateDir(cfg.StateDir)
	s, err := ledger.Open(ledgerPath(cfg))
	if err != nil {
		if e := ledgerError(err); e != err {
			return nil, e
		}
		return nil, fmt.Errorf("%w: %w", errLedger, err)
	}
	return s, nil
}

// closeLedger closes the ledger when a command is done with it. Every write
// was committed (synchronous=FULL) by then, so a failed close loses nothing
// and changes nothing the user should do.
func closeLedger(s io.Closer) { _ = s.Close() }

// warnOpenStateDir warns once per command about a state directory that
// other users can read: mailblast makes its own 0700 and its files 0600,
// but one made by hand may expose a ledger from an older version.
func warnOpenStateDir(dir string) {
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return
	}
	fmt.Fprintf(os.Stderr, "mailblast: warning: state directory %s (mode %o) is readable by other users; its ledger holds addresses: chmod 700 %s\n",
		dir, fi.Mode().Perm(), dir)
}

// configAndStore is the start of every command that only reads or edits
// the ledger: the configuration, then the ledger it names.
func configAndStore(flags *pflag.FlagSet, configFile string) (*Config, ledger.Store, error) {
	cfg, err := loadConfig(flags, configFile)
	if err != nil {
		return nil, nil, err
	}
	store, err := openStore(cfg)
	if err != nil {
		return nil, nil, err
	}
	return cfg, store, nil
}

// newReporter picks the display: a bar only on a terminal, plain lines for
// cron and pipes.
func newReporter(w io.Writer, cfg *Config) *progress.Reporter {
	mode := progress.Mode(cfg.Progress)
	if cfg.Progress == "auto" || cfg.Progress == "" {
		mode = progress.Plain
		if isTerminal(w) {
			mode = progress.Bar
		}
	}
	every := cfg.LogEvery
	if every <= 0 {
		every = 5 * time.Second
	}
	return progress.New(w, mode, every)
}

// finish turns a run's summary into the command's error: unfinished
// recipients exit 75 with a word on when to resume.
func finish(w io.Writer, sum campaign.Summary, err error) error {
	if err != nil {
		return err
	}
	if !sum.Unfinished() {
		return nil
	}
	left := sum.Counts.Deferred + sum.Counts.Pending + sum.Counts.InFlight
	when := "now"
	if sum.NextDue.After(time.Now()) {
		when = sum.NextDue.Format(time.RFC3339)
	}
	fmt.Fprintf(w, "mailblast: %d recipients of campaign %s are not final yet; the next is due %s: run \"mailblast resume\" then (cron is fine)\n",
		left, sum.Campaign, when)
	return errUnfinished
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// streams is where a command writes: its output and its messages. It comes
// from the cobra command (OutOrStdout, ErrOrStderr), so a test runs a
// command with buffers in their place.
type streams struct{ out, err io.Writer }

func streamsOf(c *cobra.Command) streams { return streams{out: c.OutOrStdout(), err: c.ErrOrStderr()} }

// isTerminal reports whether w is a terminal: a bar and a summary are for
// a person watching, not for cron, a pipe or a test's buffer.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
