package cmd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/mailblast/mailblast/campaign"
	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/progress"
)

// errLedger marks a ledger that cannot be opened; it exits 74.
var errLedger = errors.New("ledger")

func openStore(cfg *Config) (*ledger.SQLite, error) {
	s, err := ledger.Open(filepath.Join(cfg.StateDir, "ledger.db"))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errLedger, err)
	}
	return s, nil
}

// configAndStore is the start of every command that only reads or edits
// the ledger: the configuration, then the ledger it names.
func configAndStore(flags *pflag.FlagSet, configFile string) (*Config, *ledger.SQLite, error) {
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
func newReporter(cfg *Config) *progress.Reporter {
	mode := progress.Mode(cfg.Progress)
	if cfg.Progress == "auto" || cfg.Progress == "" {
		mode = progress.Plain
		if term.IsTerminal(int(os.Stderr.Fd())) {
			mode = progress.Bar
		}
	}
	every := cfg.LogEvery
	if every <= 0 {
		every = 5 * time.Second
	}
	return progress.New(os.Stderr, mode, every)
}

// finish turns a run's summary into the command's error: unfinished
// recipients exit 75 with a word on when to resume.
func finish(sum campaign.Summary, err error) error {
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
	fmt.Fprintf(os.Stderr, "mailblast: %d recipients of campaign %s are not final yet; the next is due %s: run \"mailblast resume\" then (cron is fine)\n",
		left, sum.Campaign, when)
	return errUnfinished
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
