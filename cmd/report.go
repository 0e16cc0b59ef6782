package cmd

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailblast/mailblast/ledger"
)

type reportOptions struct {
	format, state string
	configFile    string
	cmd           *cobra.Command
	io            streams
	// output and all are --format html's; htmlOnly is whether either was
	// given (they mean html, and say so when another format is asked for).
	output   string
	all      bool
	htmlOnly bool
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
			opts.cmd, opts.io = c, streamsOf(c)
			opts.htmlOnly = c.Flags().Changed("output") || c.Flags().Changed("all")
			opts.configFile, _ = c.Flags().GetString("config")
			return runReport(c.Context(), opts)
		},
	}
	c.Flags().String("campaign", "", "campaign (required when there are several)")
	c.Flags().StringVar(&opts.format, "format", "csv", "csv or json")
	c.Flags().StringVar(&opts.state, "state", "", "only this state: pending, inflight, sent, deferred, failed, skipped, bounced, complained, unsubscribed")
	addReportHTMLFlags(c, opts)
	return c
}

// reportRow is one recipient's line in the report.
type reportRow struct {
	Row         int    `json:"row"`
	Email       string `json:"email"`
	State       string `json:"state"`
	Attempts    int    `json:"attempts"`
	Code        int    `json:"code"`
	Enhanced    string `json:"enhanced_code"`
	Reply       string `json:"reply"`
	MessageID   string `json:"message_id"`
	NextAttempt string `json:"next_attempt,omitempty"`
	Recovered   int    `json:"recovered"`
	Updated     string `json:"updated"`
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
	if opts.format == "html" || opts.htmlOnly {
		return runReportHTML(ctx, opts)
	}
	if opts.format != "csv" && opts.format != "json" {
		return &usageError{errorf("--format is %q; use csv or json", opts.format)}
	}
	if err := checkState(opts.state); err != nil {
		return err
	}
	cfg, store, err := configAndStore(opts.cmd.Flags(), opts.configFile)
	if err != nil {
		return err
	}
	defer closeLedger(store)
	c, err := pickCampaign(ctx, store, cfg.Campaign)
	if err != nil {
		return err
	}
	if opts.format == "json" {
		enc := json.NewEncoder(opts.io.out)
		return store.Recipients(ctx, c.ID, ledger.State(opts.state), func(r ledger.Recipient) error { return enc.Encode(toReportRow(r)) })
	}
	return writeCSVReport(ctx, opts.io.out, store, c.ID, ledger.State(opts.state))
}

// reportStates are the states --state takes.
var reportStates = []ledger.State{ledger.Pending, ledger.InFlight, ledger.Sent, ledger.Deferred, ledger.Failed, ledger.Skipped,
	ledger.Bounced, ledger.Complained, ledger.Unsubscribed}

func checkState(state string) error {
	if state == "" || slices.Contains(reportStates, ledger.State(state)) {
		return nil
	}
	names := make([]string, len(reportStates))
	for i, s := range reportStates {
		names[i] = string(s)
	}
	return &usageError{errorf("--state is %q; use one of %s", state, strings.Join(names, ", "))}
}

// csvHeader names reportRow's fields in the order record gives them.
var csvHeader = []string{"row", "email", "state", "attempts", "code", "enhanced_code", "reply", "message_id", "next_attempt", "recovered", "updated"}

func (r reportRow) record() []string {
	return []string{strconv.Itoa(r.Row), r.Email, r.State, strconv.Itoa(r.Attempts), strconv.Itoa(r.Code), r.Enhanced,
		r.Reply, r.MessageID, r.NextAttempt, strconv.Itoa(r.Recovered), r.Updated}
}

// writeCSVReport streams rows without holding them all. A report of no
// rows is the header alone: "nothing failed" is the usual answer.
func writeCSVReport(ctx context.Context, out io.Writer, store ledger.Store, id int64, state ledger.State) error {
	w := csv.NewWriter(out)
	if err := w.Write(csvHeader); err != nil {
		return err
	}
	err := store.Recipients(ctx, id, state, func(r ledger.Recipient) error { return w.Write(toReportRow(r).record()) })
	w.Flush()
	if err != nil {
		return err
	}
	return w.Error()
}

func pickCampaign(ctx context.Context, store ledger.Store, name string) (ledger.Campaign, error) {
	if name != "" {
		return findCampaign(ctx, store, name)
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
