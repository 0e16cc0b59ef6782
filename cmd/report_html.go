package cmd

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailblast/mailblast/campaign"
	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/report"
)

// addReportHTMLFlags adds report's flags for --format html.
func addReportHTMLFlags(c *cobra.Command, opts *reportOptions) {
	c.Flags().StringVarP(&opts.output, "output", "o", "", "html: write to this file (with --all, this directory) instead of standard output")
	c.Flags().BoolVar(&opts.all, "all", false, "html: every campaign, with an overview (index.html when -o names a directory)")
	if f := c.Flags().Lookup("format"); f != nil {
		f.Usage = "csv, json or html"
	}
	c.Short = "Write every recipient's outcome as CSV or JSON lines, or a campaign's HTML page"
	c.Example += `
  mailblast report --format html -o november.html
  mailblast report --all --format html -o reports/`
}

// runReportHTML writes one campaign's page, or with --all an overview and
// every campaign's page.
func runReportHTML(ctx context.Context, opts *reportOptions) error {
	if opts.format != "html" {
		return &usageError{errorf("-o and --all go with --format html; csv and json go to standard output")}
	}
	if opts.state != "" {
		return &usageError{errorf("--state goes with --format csv or json; the HTML page shows every state")}
	}
	cfg, store, err := configAndStore(opts.cmd.Flags(), opts.configFile)
	if err != nil {
		return err
	}
	defer closeLedger(store)
	stdout, out := opts.io.out, opts.output
	if opts.all {
		return writeAllHTML(ctx, stdout, store, out)
	}
	camp, err := pickCampaign(ctx, store, cfg.Campaign)
	if err != nil {
		return err
	}
	p, err := reportPage(ctx, store, camp)
	if err != nil {
		return err
	}
	return writeHTML(stdout, out, func(w io.Writer) error { return report.WritePage(w, p) })
}

func reportPage(ctx context.Context, store ledger.Store, c ledger.Campaign) (*report.Page, error) {
	st, err := store.Stats(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	n := st.Counts
	finished := c.Imported && n.Pending+n.Deferred+n.InFlight == 0
	var fb *report.Feedback
	if st.Feedback > 0 { // reports were read: the rates are known, zero or not
		fb = &report.Feedback{Complaints: st.Counts.Complained, Unsubscribes: st.Counts.Unsubscribed}
	}
	return report.New(c.Name, st, finished, fb, time.Now()), nil
}

// writeAllHTML writes the overview to stdout without -o; with -o DIR it
// writes DIR/index.html and DIR/NAME.html for every campaign.
func writeAllHTML(ctx context.Context, stdout io.Writer, store ledger.Store, dir string) error {
	list, err := store.Campaigns(ctx)
	if err != nil {
		return err
	}
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("report output: %w", err)
		}
	}
	x := report.Index{Generated: time.Now()}
	for i, c := range list {
		p, err := reportPage(ctx, store, c)
		if err != nil {
			return err
		}
		if dir != "" {
			p.Href = fmt.Sprintf("%03d-%s.html", i+1, campaign.FileName(c.Name))
			if err := writeHTML(stdout, filepath.Join(dir, p.Href), func(w io.Writer) error { return report.WritePage(w, p) }); err != nil {
				return err
			}
		}
		x.Pages = append(x.Pages, p)
	}
	out := ""
	if dir != "" {
		out = filepath.Join(dir, "index.html")
	}
	return writeHTML(stdout, out, func(w io.Writer) error { return report.WriteIndex(w, x) })
}

// writeHTML writes to path, or stdout for "", through a buffer.
func writeHTML(stdout io.Writer, path string, write func(io.Writer) error) error {
	var f *os.File
	if path != "" {
		var err error
		if f, err = os.Create(path); err != nil {
			return fmt.Errorf("report output: %w", err)
		}
		defer f.Close()
		stdout = f
	}
	w := bufio.NewWriterSize(stdout, 64<<10)
	if err := write(w); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("report output: %w", err)
	}
	if path != "" {
		return f.Close()
	}
	return nil
}
