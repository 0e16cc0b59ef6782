package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mailblast/mailblast/campaign"
	"github.com/mailblast/mailblast/ledger"
)

type validateOptions struct {
	list       string
	configFile string
	cmd        *cobra.Command
	io         streams
}

func newValidateCommand() *cobra.Command {
	opts := &validateOptions{}
	c := &cobra.Command{
		Use:   "validate LIST.csv",
		Short: "Check a list and template without sending: addresses, duplicates, suppressions, rendering",
		Long: `Validate reads every row of LIST.csv, checks every address as send would
(syntax, lengths, a domain that can exist, duplicates, the suppression list)
and renders the template for every row. It opens no connection and writes
nothing to the ledger. It prints how many rows are fine and the skipped ones
by reason, with the first row numbers of each.

It exits 0 when the campaign can be sent (at least one row is fine and the
template renders for every row), 65 otherwise.`,
		Example: `  mailblast validate list.csv --template message.tmpl`,
		Args:    exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.list, opts.cmd, opts.io = args[0], c, streamsOf(c)
			opts.configFile, _ = c.Flags().GetString("config")
			return runValidate(c.Context(), opts)
		},
	}
	f := c.Flags()
	f.String("template", "", "message template file (default: the config's; none checks addresses only)")
	f.String("email-column", "", `CSV column with the address (default "email")`)
	return c
}

func runValidate(ctx context.Context, opts *validateOptions) error {
	cfg, err := loadConfig(opts.cmd.Flags(), opts.configFile)
	if err != nil {
		return err
	}
	// What send would refuse before connecting, validate says too; as a
	// warning, since checking a list needs no secret.
	settings := campaignSettings(cfg, opts.list)
	if _, err := cfg.passwords(&settings); err != nil {
		fmt.Fprintf(opts.io.err, "mailblast: warning: send would stop here (exit 78): %v\n", err)
	}
	return checkList(ctx, opts.io, cfg, opts.list, "")
}

// checkList is validate, and send --dry-run when dir is set.
func checkList(ctx context.Context, io streams, cfg *Config, list, dir string) error {
	store, err := openStoreReadOnly(cfg)
	if err != nil {
		return err
	}
	if store != nil {
		defer closeLedger(store)
	}
	settings := campaignSettings(cfg, list)
	settings.List = list // name the file as the user did
	if cfg.Template == "" {
		settings.Template = ""
	}
	opts := campaign.CheckOptions{Settings: settings, Name: campaignName(cfg, list), Ledger: store}
	var rep *campaign.CheckReport
	written := 0
	if dir == "" {
		rep, err = campaign.Check(ctx, opts)
	} else {
		rep, written, err = campaign.DryRun(ctx, opts, dir)
	}
	if err != nil {
		return err
	}
	printCheck(io.out, list, rep)
	if dir != "" {
		fmt.Fprintf(io.out, "dry run: %d messages written to %s; nothing sent, the ledger untouched\n", written, dir)
	}
	return rep.Err()
}

// openStoreReadOnly opens the ledger for reading, or returns nil when the
// state directory has none yet: there is no suppression list to consult.
func openStoreReadOnly(cfg *Config) (ledger.Store, error) {
	if cfg.Ledger.shared() {
		return sharedStore(cfg)
	}
	warnOpenStateDir(cfg.StateDir)
	s, err := ledger.OpenReadOnly(ledgerPath(cfg))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		if e := ledgerError(err); e != err {
			return nil, e
		}
		return nil, fmt.Errorf("%w: %w", errLedger, err)
	}
	return s, nil
}

// campaignName is the --campaign name, or the list's file name.
func campaignName(cfg *Config, list string) string {
	if cfg.Campaign != "" {
		return cfg.Campaign
	}
	return strings.TrimSuffix(filepath.Base(list), filepath.Ext(list))
}

// printCheck writes validate's summary.
func printCheck(w io.Writer, list string, rep *campaign.CheckReport) {
	fmt.Fprintf(w, "%s: %s: %d to send, %d skipped", list, plural(rep.Rows, "row"), rep.Fine, rep.Skipped)
	if rep.BadRowCount > 0 {
		fmt.Fprintf(w, ", %d unreadable", rep.BadRowCount)
	}
	if rep.TemplateRows > 0 {
		fmt.Fprintf(w, ", %d failing the template", rep.TemplateRows)
	}
	fmt.Fprintln(w)
	if rep.UTF8 > 0 {
		fmt.Fprintf(w, "%s to send with a non-ASCII local part: the relay must offer SMTPUTF8\n", plural(rep.UTF8, "row"))
	}
	printGroups(w, "skipped", rep.SkippedBy)
	if rep.BadRowCount > 0 {
		fmt.Fprintf(w, "unreadable rows (send stops at the first):\n")
		for _, err := range rep.BadRows {
			fmt.Fprintf(w, "  %v\n", err)
		}
		if more := rep.BadRowCount - len(rep.BadRows); more > 0 {
			fmt.Fprintf(w, "  and %d more\n", more)
		}
	}
	if rep.Stopped != nil {
		fmt.Fprintf(w, "stopped reading: %v\n", rep.Stopped)
	}
	printGroups(w, "template errors", rep.TemplateErrors)
	if rep.Rendered && len(rep.TemplateErrors) == 0 {
		fmt.Fprintln(w, "template: renders for every row to send")
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	if l := len(word); l > 1 && word[l-1] == 'y' && !strings.ContainsRune("aeiou", rune(word[l-2])) {
		return strconv.Itoa(n) + " " + word[:l-1] + "ies" // auto-replies
	}
	return strconv.Itoa(n) + " " + word + "s"
}

func printGroups(w io.Writer, title string, groups []campaign.Group) {
	if len(groups) == 0 {
		return
	}
	fmt.Fprintf(w, "%s:\n", title)
	for _, g := range groups {
		if len(g.Rows) == 0 {
			fmt.Fprintf(w, "  %s\n", g.Reason)
			continue
		}
		fmt.Fprintf(w, "  %6d  %s: %s\n", g.Count, g.Reason, rowList(g))
	}
}

func rowList(g campaign.Group) string {
	nums := make([]string, len(g.Rows))
	for i, r := range g.Rows {
		nums[i] = strconv.Itoa(r)
		if len(g.Notes) == len(g.Rows) { // the row's own reason, as report gives it
			nums[i] += " (" + g.Notes[i] + ")"
		}
	}
	s := "row"
	if len(g.Rows) > 1 {
		s = "rows"
	}
	s += " " + strings.Join(nums, ", ")
	if g.Count > len(g.Rows) {
		s += ", ..."
	}
	return s
}
