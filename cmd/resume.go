package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/spf13/cobra"

	"github.com/mailblast/mailblast/campaign"
	"github.com/mailblast/mailblast/ledger"
)

type resumeOptions struct {
	configFile string
	cmd        *cobra.Command
	io         streams
	// retryWaitSet: --retry-wait was given; without it resume from cron
	// sends what is due and exits.
	retryWaitSet bool
}

func newResumeCommand() *cobra.Command {
	opts := &resumeOptions{}
	c := &cobra.Command{
		Use:   "resume",
		Short: "Continue unfinished campaigns from the ledger (cron-safe)",
		Long: `Resume continues campaigns from the ledger with the list and template they
were started with. What this run's flags, environment and config file set wins;
the settings the campaign stored fill only what they leave unset, so a bare
resume from cron works. Without --campaign it continues every unfinished
campaign in the state directory (or shared ledger). It sends what is due and
exits: run it from cron.`,
		Example: `  */10 * * * * cd /srv/news && MAILBLAST_SMTP_PASSWORD_FILE=/srv/news/pass /usr/bin/mailblast resume`,
		Args:    noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			opts.cmd, opts.io = c, streamsOf(c)
			opts.retryWaitSet = c.Flags().Changed("retry-wait")
			opts.configFile, _ = c.Flags().GetString("config")
			cfg, err := loadConfig(c.Flags(), opts.configFile)
			if err != nil {
				return err
			}
			stopWords.Store(&sendingStopWords) // a signal says what happens to messages on the wire
			return withMetrics(cfg, func() error { return runResume(c.Context(), opts, cfg) })
		},
	}
	f := c.Flags()
	f.String("campaign", "", "campaign to continue (default: every unfinished one)")
	f.Int("connections", 0, "SMTP connections (default: as the campaign was started)")
	f.Duration("retry-wait", 0, "stay this long to retry deferred recipients that fall due (default 0: send what is due now, then exit)")
	f.String("in-flight", "", "rows in flight at a crash: resend or skip (default resend)")
	f.String("progress", "", "auto, bar, plain or quiet")
	addPacingFlags(f)
	addMetricsFlag(f)
	addWindowFlag(f)
	return c
}

func runResume(ctx context.Context, opts *resumeOptions, cfg *Config) error {
	// From cron, resume sends what is due and exits: it waits for later
	// retries only when asked on its own command line.
	if !opts.retryWaitSet {
		cfg.Retry.Wait = 0
	}
	todo, err := unfinished(ctx, cfg)
	if err != nil {
		return err
	}
	if len(todo) == 0 {
		fmt.Fprintf(opts.io.err, "mailblast: nothing to resume in %s\n", ledgerName(cfg))
		return nil
	}
	var errs []error
	for _, c := range todo {
		if ctx.Err() != nil {
			break
		}
		s, err := campaign.DecodeSettings(c)
		if err == nil {
			err = runCampaign(ctx, opts.io, cfg, c.Name, cfg.overlay(s))
		}
		if err != nil && !errors.Is(err, errUnfinished) {
			err = fmt.Errorf("campaign %s: %w", c.Name, err)
		}
		if stuck(err) {
			err = &stuckError{name: c.Name, err: err}
		}
		errs = append(errs, err)
	}
	return reportAllButWorst(opts.io.err, liftStuck(opts.io.err, errs))
}

// stuck reports whether a campaign can never continue as it is: its list or
// template is gone, changed or broken. No retry fixes that; a person must.
func stuck(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, campaign.ErrListChanged) ||
		errors.Is(err, campaign.ErrTemplate) || errors.Is(err, campaign.ErrNotSendable)
}

// stuckError names the command that clears a stuck campaign.
type stuckError struct {
	name string
	err  error
}

func (e *stuckError) Error() string {
	return fmt.Sprintf("%v; it cannot continue as it is: restore its files, or clear it with \"mailblast campaign abandon %s\"", e.err, e.name)
}
func (e *stuckError) Unwrap() error { return e.err }

// liftStuck keeps a bare resume from cron useful: a stuck campaign is
// reported, but decides the exit code only when no other campaign ran.
func liftStuck(w io.Writer, errs []error) []error {
	var se *stuckError
	ran := false
	for _, err := range errs {
		ran = ran || !errors.As(err, &se)
	}
	if !ran {
		return errs
	}
	out := make([]error, 0, len(errs))
	for _, err := range errs {
		if errors.As(err, &se) {
			fmt.Fprintf(w, "mailblast: %v\n", err)
			continue
		}
		out = append(out, err)
	}
	return out
}

// reportAllButWorst prints every campaign's error but the one that decides
// the exit code, which it returns for Main to print: each error once.
func reportAllButWorst(out io.Writer, errs []error) error {
	w := worst(errs)
	for _, err := range errs {
		if err != nil && err != w && !errors.Is(err, errUnfinished) {
			fmt.Fprintf(out, "mailblast: %v\n", err)
		}
	}
	return w
}

// unfinished lists the campaigns to continue: the named one, or every one
// with recipients that are not final.
func unfinished(ctx context.Context, cfg *Config) ([]ledger.Campaign, error) {
	store, err := openStoreReadOnly(cfg)
	if err != nil || (store == nil && cfg.Campaign == "") {
		return nil, err
	}
	if store == nil {
		return nil, &usageError{fmt.Errorf("campaign %q: %w in %s", cfg.Campaign, ledger.ErrNotFound, ledgerName(cfg))}
	}
	defer closeLedger(store)
	if cfg.Campaign != "" {
		c, err := findCampaign(ctx, store, cfg.Campaign)
		return []ledger.Campaign{c}, err
	}
	all, err := store.Campaigns(ctx)
	if err != nil {
		return nil, err
	}
	var out []ledger.Campaign
	for _, c := range all {
		_, waiting, err := store.Progress(ctx, c.ID)
		if err != nil {
			return nil, err
		}
		if !c.Abandoned && (waiting > 0 || !c.Imported) {
			out = append(out, c)
		}
	}
	return out, nil
}

// worst picks the error that decides the exit code of a multi-campaign
// run: any real failure beats "still deferred", which beats success.
func worst(errs []error) error {
	var unfinished error
	for _, err := range errs {
		switch {
		case err == nil:
		case errors.Is(err, errUnfinished):
			unfinished = err
		default:
			return err
		}
	}
	return unfinished
}
