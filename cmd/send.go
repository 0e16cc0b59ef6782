package cmd

import (
	"context"

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
			return withMetrics(c, opts.configFile, func() error { return runSend(c.Context(), opts) })
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
	f.StringVar(&opts.dryRun, "dry-run", "", "write every message to DIR as ROW-ADDRESS.eml instead of sending; the ledger is untouched")
	return c
}

func runSend(ctx context.Context, opts *sendOptions) error {
	cfg, err := loadConfig(opts.cmd.Flags(), opts.configFile)
	if err != nil {
		return err
	}
	if cfg.Template == "" {
		return &usageError{errorf("no template: pass --template FILE or set template in the config")}
	}
	if opts.dryRun != "" {
		return checkList(ctx, cfg, opts.list, opts.dryRun)
	}
	if cfg.SMTP.Host == "" && len(cfg.relaySettings) == 0 {
		return configErrorf("smtp.host is not set (MAILBLAST_SMTP_HOST or smtp.host in mailblast.yaml)")
	}
	return runCampaign(ctx, cfg, campaignName(cfg, opts.list), campaignSettings(cfg, opts.list))
}

// campaignSettings is the one place a campaign's settings are built from
// the configuration: send, validate, preview and the dry run all render
// with what it gives.
func campaignSettings(cfg *Config, list string) campaign.Settings {
	return campaign.Settings{
		List: absPath(list), Template: absPath(cfg.Template), EmailColumn: cfg.EmailColumn,
		SMTP: cfg.smtpSettings(), Retry: campaign.RetrySettings{Schedule: cfg.Retry.Schedule, MaxAge: cfg.Retry.MaxAge},
		Relays: cfg.relaySettings, Message: cfg.message(),
	}
}

// runCampaign is shared by send and resume: the run itself lives in the
// campaign package.
func runCampaign(ctx context.Context, cfg *Config, name string, settings campaign.Settings) error {
	password, err := cfg.password()
	if err != nil {
		return err
	}
	relayPW, err := relayPasswords(settings.Relays)
	if err != nil {
		return err
	}
	store, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	retry := cfg.retry()
	if len(settings.Retry.Schedule) > 0 {
		retry.Schedule = settings.Retry.Schedule
	}
	sum, err := campaign.Run(ctx, hardContext(ctx), campaign.Options{
		Name: name, StateDir: cfg.StateDir, Settings: settings, Password: password, RelayPasswords: relayPW, Retry: retry,
		InFlight: ledger.InFlightPolicy(cfg.InFlight), Grace: cfg.Grace, Reporter: metricsReporter(summaryReporter(cfg, newReporter(cfg))), Store: store,
	})
	return finish(sum, err)
}
