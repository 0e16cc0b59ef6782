package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailblast/mailblast/campaign"
	"github.com/mailblast/mailblast/ledger"
)

type sendOptions struct {
	list       string
	dryRun     string
	configFile string
	cmd        *cobra.Command
}

func newSendCommand() *cobra.Command {
	opts := &sendOptions{}
	c := &cobra.Command{
		Use:   "send LIST.csv",
		Short: "Send the campaign: one message per row of LIST.csv",
		Long: `Send renders the template for every row of LIST.csv and sends the messages
through the relay. Outcomes go into the ledger as they happen; running send
again with the same list and template continues the campaign and never mails
anyone the ledger shows as sent.`,
		Example: `  MAILBLAST_SMTP_PASSWORD_FILE=~/.relay-pass mailblast send list.csv --template message.tmpl
  mailblast send list.csv --campaign november --connections 8`,
		Args: exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.list, opts.cmd = args[0], c
			opts.configFile, _ = c.Flags().GetString("config")
			cfg, err := loadConfig(c.Flags(), opts.configFile)
			if err != nil {
				return err
			}
			stopWords.Store(&sendingStopWords) // a signal says what happens to messages on the wire
			return withMetrics(cfg, func() error { return runSend(c.Context(), opts, cfg) })
		},
	}
	f := c.Flags()
	f.String("template", "", "message template file (headers, blank line, body)")
	f.String("campaign", "", "campaign name (default: the list's file name)")
	f.Int("connections", 0, "SMTP connections to keep open (default 4)")
	f.String("email-column", "", `CSV column with the address (default "email")`)
	f.Duration("retry-wait", 0, "stay this long to retry deferred recipients (default 10m)")
	f.String("in-flight", "", "rows in flight at an earlier crash: resend or skip (default resend)")
	f.String("progress", "", "auto, bar, plain or quiet (default auto: a bar on a terminal)")
	addPacingFlags(f)
	addMetricsFlag(f)
	addWindowFlag(f)
	f.StringVar(&opts.dryRun, "dry-run", "", "write every message to DIR as ROW-ADDRESS.eml instead of sending; the ledger is untouched")
	return c
}

func runSend(ctx context.Context, opts *sendOptions, cfg *Config) error {
	if cfg.Template == "" {
		return &usageError{errorf("no template: pass --template FILE or set template in the config")}
	}
	if opts.dryRun != "" {
		return checkList(ctx, streamsOf(opts.cmd), cfg, opts.list, opts.dryRun)
	}
	if cfg.SMTP.Host == "" && len(cfg.relaySettings) == 0 {
		return configErrorf("smtp.host is not set (MAILBLAST_SMTP_HOST or smtp.host in mailblast.yaml)")
	}
	return runCampaign(ctx, streamsOf(opts.cmd), cfg, campaignName(cfg, opts.list), campaignSettings(cfg, opts.list))
}

// campaignSettings is the one place a campaign's settings are built from
// the configuration: send, validate, preview and the dry run all render
// with what it gives.
func campaignSettings(cfg *Config, list string) campaign.Settings {
	return campaign.Settings{
		List: absPath(list), Template: absPath(cfg.Template), EmailColumn: cfg.EmailColumn,
		SMTP: cfg.SMTP.Settings, Retry: cfg.Retry,
		Relays: cfg.relaySettings, Message: cfg.message(), ReturnPath: cfg.ReturnPath, Seeds: cfg.Seeds, SeedFields: cfg.SeedFields,
		Window: cfg.Window,
	}
}

// runCampaign is shared by send and resume: the run itself lives in the
// campaign package. Each run's end is recorded for `campaigns`; a campaign
// this run created and could not send a single message of is removed
// again, so fixing the template or list needs no clean-up.
func runCampaign(ctx context.Context, io streams, cfg *Config, name string, settings campaign.Settings) error {
	password, err := cfg.passwords(&settings)
	if err != nil {
		return err
	}
	store, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer closeLedger(store)
	bg := context.WithoutCancel(ctx)
	_, existed := store.Campaign(bg, name)
	retry := settings.Retry // the campaign's schedule, with today's run's wait
	retry.Wait = cfg.Retry.Wait
	started := time.Now()
	sum, err := campaign.Run(ctx, hardContext(ctx), campaign.Options{
		Name: name, StateDir: cfg.StateDir, Settings: settings, Password: password, Retry: retry, TLSConfig: cfg.tlsConfig(),
		InFlight: ledger.InFlightPolicy(cfg.InFlight), Grace: cfg.Grace, Reporter: metricsReporter(summaryReporter(io.err, cfg, newReporter(io.err, cfg))), Store: store,
	})
	c, cerr := store.Campaign(bg, name)
	if cerr != nil || errors.Is(err, campaign.ErrLocked) {
		// Not a run of this campaign: it was never created, or another
		// mailblast is running it and records its own end.
		return finish(io.err, sum, err)
	}
	if _, shared := store.(ledger.Fleet); existed != nil && !shared {
		// Only where one mailblast at a time runs a campaign (the state
		// directory's lock): on a shared ledger another worker may have
		// created it meanwhile, or be sending it now.
		if err = forgetUnsent(bg, store, c, sum, err); errors.Is(err, errForgotten) {
			return err
		}
	}
	_, shared := store.(ledger.Fleet)
	refused := shared && errors.Is(err, campaign.ErrListChanged)
	err = finish(io.err, sum, err)
	if !refused { // a worker refused at the door ran nothing of the campaign's
		recordRun(bg, io.err, store, c.ID, ledger.Run{Started: started, Ended: time.Now(), ExitCode: exitCode(err)})
	}
	return err
}

// recordRun notes the run's end for `campaigns`. A failure is a warning,
// not the run's outcome: what was sent is recorded already, and the exit
// status must say how the sending went.
func recordRun(ctx context.Context, w io.Writer, store ledger.Store, id int64, r ledger.Run) {
	if err := store.RecordRun(ctx, id, r); err != nil {
		fmt.Fprintf(w, "mailblast: warning: how this run ended was not recorded (campaigns will not show it): %v\n", err)
	}
}

// errForgotten wraps the error of a new campaign that was removed again.
var errForgotten = errors.New("nothing was sent, so the campaign was not kept; fix it and run send again")

// forgetUnsent removes a campaign created by this run when the run failed
// on its data before any message went out, or skipped every row (what
// validate calls "no row of the list can be sent"). Anything attempted
// keeps the campaign: its records are the truth about who got what.
func forgetUnsent(ctx context.Context, store ledger.Store, c ledger.Campaign, sum campaign.Summary, err error) error {
	// What the ledger holds now, not what this run saw: a run that
	// stopped before it looked has no counts at all.
	n, cerr := store.Counts(ctx, c.ID)
	if cerr != nil || n.Sent+n.Deferred+n.Failed+n.InFlight+n.Recovered+n.Bounced+n.Complained+n.Unsubscribed > 0 || sum.SentNow > 0 {
		return err
	}
	code := exitCode(err)
	allSkipped := err == nil && n.Total > 0 && n.Skipped == n.Total
	if !allSkipped && code != exitDataErr && code != exitNoInput {
		return err
	}
	if store.RemoveCampaign(ctx, c.ID) != nil {
		return err
	}
	if allSkipped {
		err = campaign.ErrNotSendable
	}
	return fmt.Errorf("%w (%w)", err, errForgotten)
}
