package cmd

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mailblast/mailblast/campaign"
)

type previewOptions struct {
	list       string
	row        int
	configFile string
	cmd        *cobra.Command
	io         streams
}

func newPreviewCommand() *cobra.Command {
	opts := &previewOptions{}
	c := &cobra.Command{
		Use:   "preview LIST.csv",
		Short: "Print one recipient's message exactly as send builds it",
		Long: `Preview writes to stdout the bytes send would hand to the relay for one row
of LIST.csv: headers, MIME structure, body (and a DKIM signature when one is
configured). Rows count like a spreadsheet's: the header is row 1, the first
recipient row 2 (the default). When the campaign has started, the message
carries its real Message-ID; only the Date differs. Notes (a row send will
skip, a campaign not started yet) go to stderr. Nothing is sent and the
ledger is only read.`,
		Example: `  mailblast preview list.csv --row 7 --template message.tmpl | less`,
		Args:    exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.list, opts.cmd, opts.io = args[0], c, streamsOf(c)
			opts.configFile, _ = c.Flags().GetString("config")
			return runPreview(c.Context(), opts)
		},
	}
	f := c.Flags()
	f.IntVar(&opts.row, "row", 2, "spreadsheet row to preview (the header is row 1)")
	f.String("template", "", "message template file")
	f.String("campaign", "", "campaign, for its Message-IDs (default: the list's file name)")
	f.String("email-column", "", `CSV column with the address (default "email")`)
	return c
}

func runPreview(ctx context.Context, opts *previewOptions) error {
	cfg, err := loadConfig(opts.cmd.Flags(), opts.configFile)
	if err != nil {
		return err
	}
	if cfg.Template == "" {
		return &usageError{errorf("no template: pass --template FILE or set template in the config")}
	}
	store, err := openStoreReadOnly(cfg)
	if err != nil {
		return err
	}
	if store != nil {
		defer closeLedger(store)
	}
	settings := campaignSettings(cfg, opts.list)
	settings.List = opts.list
	res, err := campaign.Preview(ctx, campaign.PreviewOptions{
		Settings: settings, Name: campaignName(cfg, opts.list), Row: opts.row, Ledger: store,
	})
	if errors.Is(err, campaign.ErrNoSuchRow) {
		return &usageError{err}
	}
	if err != nil {
		return err
	}
	for _, n := range res.Notes {
		fmt.Fprintf(opts.io.err, "mailblast: row %d: %s\n", opts.row, n)
	}
	_, err = opts.io.out.Write(res.Message.Data)
	return err
}
