package cmd

import (
	"context"
	"encoding/json"
	"os"
	"time"

	"github.com/gocarina/gocsv"
	"github.com/spf13/cobra"

	"github.com/mailblast/mailblast/ledger"
)

type reportOptions struct {
	format, state string
	configFile    string
	cmd           *cobra.Command
}

func newReportCommand() *cobra.Command {
	opts := &reportOptions{}
	c := &cobra.Command{
		Use:   "report",
		Short: "Write every recipient's outcome as CSV or JSON lines",
		Example: `  mailblast report --campaign november --state failed > failed.csv
  mailblast report --format json | jq 'select(.code >= 500)'`,
		Args: noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			opts.cmd = c
			opts.configFile, _ = c.Flags().GetString("config")
			return runReport(c.Context(), opts)
		},
	}
	c.Flags().String("campaign", "", "campaign (required when there are several)")
	c.Flags().StringVar(&opts.format, "format", "csv", "csv or json")
	c.Flags().StringVar(&opts.state, "state", "", "only this state: pending, inflight, sent, deferred, failed, skipped")
	addReportHTMLFlags(c)
	return c
}

// reportRow is one recipient's line in the report.
type reportRow struct {
	Row         int    `csv:"row" json:"row"`
	Email       string `csv:"email" json:"email"`
	State       string `csv:"state" json:"state"`
	Attempts    int    `csv:"attempts" json:"attempts"`
	Code        int    `csv:"code" json:"code"`
	Enhanced    string `csv:"enhanced_code" json:"enhanced_code"`
	Reply       string `csv:"reply" json:"reply"`
	MessageID   string `csv:"message_id" json:"message_id"`
	NextAttempt string `csv:"next_attempt" json:"next_attempt,omitempty"`
	Recovered   int    `csv:"recovered" json:"recovered"`
	Updated     string `csv:"updated" json:"updated"`
}

func toReportRow(r ledger.Recipient) reportRow {
	row := reportRow{Row: r.Row, Email: r.Email, State: string(r.State), Attempts: r.Attempts, Code: r.Code,
		Enhanced: r.Enhanced, Reply: r.Text, MessageID: r.MessageID, Recovered: r.Recovered, Updated: r.UpdatedAt.UTC().Format(time.RFC3339)}
	if r.State == ledger.Deferred {
		row.NextAttempt = r.NextAttempt.UTC().Format(time.RFC3339)
	}
	return row
}

func runReport(ctx context.Context, opts *reportOptions) error {
	if opts.format == "html" || htmlFlagsSet(opts.cmd) {
		return runReportHTML(ctx, opts.cmd, opts.configFile)
	}
	if opts.format != "csv" && opts.format != "json" {
		return &usageError{errorf("--format is %q; use csv or json", opts.format)}
	}
	cfg, store, err := configAndStore(opts.cmd.Flags(), opts.configFile)
	if err != nil {
		return err
	}
	defer store.Close()
	c, err := pickCampaign(ctx, store, cfg.Campaign)
	if err != nil {
		return err
	}
	if opts.format == "json" {
		enc := json.NewEncoder(os.Stdout)
		return store.Recipients(ctx, c.ID, ledger.State(opts.state), func(r ledger.Recipient) error { return enc.Encode(toReportRow(r)) })
	}
	return writeCSVReport(ctx, store, c.ID, ledger.State(opts.state))
}

// writeCSVReport streams rows through gocsv without holding them all.
func writeCSVReport(ctx context.Context, store ledger.Store, id int64, state ledger.State) error {
	rows := make(chan any, 256)
	errc := make(chan error, 1)
	go func() {
		defer close(rows)
		errc <- store.Recipients(ctx, id, state, func(r ledger.Recipient) error { rows <- toReportRow(r); return nil })
	}()
	err := gocsv.MarshalChan(rows, gocsv.DefaultCSVWriter(os.Stdout))
	for range rows { // let the reader finish if the writer stopped early
	}
	if qerr := <-errc; qerr != nil {
		return qerr
	}
	return err
}

func pickCampaign(ctx context.Context, store ledger.Store, name string) (ledger.Campaign, error) {
	if name != "" {
		c, err := store.Campaign(ctx, name)
		if err != nil {
			return c, &usageError{err}
		}
		return c, nil
	}
	all, err := store.Campaigns(ctx)
	if err != nil {
		return ledger.Campaign{}, err
	}
	if len(all) != 1 {
		return ledger.Campaign{}, &usageError{errorf("%d campaigns in the state directory: pass --campaign NAME", len(all))}
	}
	return all[0], nil
}
