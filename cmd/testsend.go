package cmd

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mailblast/mailblast/campaign"
)

type testSendOptions struct {
	list, to   string
	row        int
	noPrefix   bool
	configFile string
	cmd        *cobra.Command
}

func newTestSendCommand() *cobra.Command {
	opts := &testSendOptions{}
	c := &cobra.Command{
		Use:   "test-send LIST.csv --to ADDRESS",
		Short: "Send one row's message to yourself, through the relay, outside the ledger",
		Long: `Test-send builds one row's message exactly as send does (headers, MIME,
unsubscribe, DKIM) and sends it through the relay send would use first
(smtp.relays' first, else smtp.*; same TLS, AUTH and password) to the --to
address only: RCPT TO is that address, the To header stays the row's. The
Subject is prefixed "[TEST] " (before signing) unless --no-prefix. The
ledger is not opened: nothing is recorded, and the message's Message-ID is
not the one send will give the row. --row defaults to the first row whose
message builds.`,
		Example: `  mailblast test-send list.csv --to me@example.com
  mailblast test-send list.csv --to me@example.com --row 7 --no-prefix`,
		Args: exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.list, opts.cmd = args[0], c
			opts.configFile, _ = c.Flags().GetString("config")
			return runTestSend(c.Context(), opts)
		},
	}
	f := c.Flags()
	f.StringVar(&opts.to, "to", "", "the one address to send to (required)")
	f.IntVar(&opts.row, "row", 0, "spreadsheet row to send (the header is row 1; default the first row whose message builds)")
	f.BoolVar(&opts.noPrefix, "no-prefix", false, `keep the Subject as it is, without "[TEST] "`)
	f.String("template", "", "message template file")
	f.String("campaign", "", "campaign name (default: the list's file name)")
	f.String("email-column", "", `CSV column with the address (default "email")`)
	return c
}

func runTestSend(ctx context.Context, opts *testSendOptions) error {
	if opts.to == "" {
		return &usageError{errorf("--to ADDRESS is required: the one address the test goes to")}
	}
	to, err := campaign.ParseAddress(opts.to)
	if err != nil {
		return &usageError{fmt.Errorf("--to: %w", err)}
	}
	cfg, err := loadConfig(opts.cmd.Flags(), opts.configFile)
	if err != nil {
		return err
	}
	settings, password, err := testSendSettings(cfg, opts.list)
	if err != nil {
		return err
	}
	ts := campaign.TestSendOptions{Settings: settings, Name: campaignName(cfg, opts.list), Row: opts.row,
		To: to, SubjectPrefix: "[TEST] ", Password: password, TLSConfig: cfg.tlsConfig()}
	if opts.noPrefix {
		ts.SubjectPrefix = ""
	}
	res, err := campaign.TestSend(ctx, ts)
	if errors.Is(err, campaign.ErrNoSuchRow) {
		return &usageError{err}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(streamsOf(opts.cmd).out, "sent row %d's message (To: %s) to %s through %s: %s\n",
		res.Row, res.Message.To, to.ASCII, res.Relay, res.Reply)
	return nil
}

// testSendSettings are send's settings and the first relay's password.
func testSendSettings(cfg *Config, list string) (campaign.Settings, string, error) {
	if cfg.Template == "" {
		return campaign.Settings{}, "", &usageError{errorf("no template: pass --template FILE or set template in the config")}
	}
	if cfg.SMTP.Host == "" && len(cfg.relaySettings) == 0 {
		return campaign.Settings{}, "", configErrorf("smtp.host is not set (MAILBLAST_SMTP_HOST or smtp.host in mailblast.yaml)")
	}
	settings := campaignSettings(cfg, list)
	password, err := cfg.passwords(&settings)
	if len(settings.Relays) > 0 {
		password = settings.Relays[0].Password
	}
	return settings, password, err
}
