package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailblast/mailblast/campaign"
	"github.com/mailblast/mailblast/ledger"
)

type suppressOptions struct {
	reason string
	json   bool
	io     streams
}

func newSuppressCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "suppress",
		Short: "Manage the suppression list: addresses no campaign sends to",
		Long: `The suppression list lives in the state directory's ledger and is shared by
every campaign there. A list row whose address is on it is recorded skipped
("suppressed: REASON") when its campaign is imported. Addresses are compared
as duplicates are: the domain in its ASCII form, the whole address without
regard to case.

A permanent failure whose enhanced code says the mailbox does not exist
(5.1.x, except 5.1.7 and 5.1.8, which are about the sender) adds the address
by itself, with source "bounce" and the relay's reply as the reason.`,
		Args: noArgs,
	}
	c.AddCommand(newSuppressAddCommand(), newSuppressImportCommand(), newSuppressListCommand(), newSuppressRemoveCommand())
	return c
}

// suppressCommand builds a subcommand that runs with the ledger open.
func suppressCommand(use, short string, args cobra.PositionalArgs, run func(context.Context, *Config, ledger.Store, *suppressOptions, []string) error) (*cobra.Command, *suppressOptions) {
	opts := &suppressOptions{}
	c := &cobra.Command{
		Use: use, Short: short, Args: args,
		RunE: func(c *cobra.Command, args []string) error {
			opts.io = streamsOf(c)
			return withStore(c, func(ctx context.Context, cfg *Config, store ledger.Store) error {
				return run(ctx, cfg, store, opts, args)
			})
		},
	}
	return c, opts
}

func minArgs(n int) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if err := cobra.MinimumNArgs(n)(c, args); err != nil {
			return &usageError{err}
		}
		return nil
	}
}

func newSuppressAddCommand() *cobra.Command {
	c, opts := suppressCommand("add ADDRESS...", "Add addresses to the suppression list", minArgs(1),
		func(ctx context.Context, cfg *Config, store ledger.Store, opts *suppressOptions, args []string) error {
			reason := opts.reason
			if reason == "" {
				reason = "added by hand"
			}
			n, err := campaign.Suppress(ctx, store, args, reason)
			if err != nil {
				return err
			}
			fmt.Fprintf(opts.io.out, "%d added, %d already suppressed\n", n, len(args)-n)
			return nil
		})
	c.Example = `  mailblast suppress add ann@example.com bob@example.org --reason "asked by phone"`
	c.Flags().StringVar(&opts.reason, "reason", "", `why (default "added by hand")`)
	return c
}

func newSuppressImportCommand() *cobra.Command {
	c, opts := suppressCommand("import FILE", "Add every address of a file to the suppression list", exactArgs(1),
		func(ctx context.Context, cfg *Config, store ledger.Store, opts *suppressOptions, args []string) error {
			res, err := campaign.ImportSuppressions(ctx, store, args[0], cfg.EmailColumn, opts.reason)
			if err != nil {
				return err
			}
			printSuppressImport(opts.io, args[0], res)
			return nil
		})
	c.Long = `Import adds every address of FILE to the suppression list. FILE is either a
CSV file with a header row and an address column (--email-column, default
"email"), such as an unsubscribe export, or a plain list with one address per
line (blank lines and lines starting with # are ignored). Lines without a
valid address are skipped and listed with their line numbers (row numbers,
for CSV); the others are added.`
	c.Example = `  mailblast suppress import unsubscribed.csv --reason "unsubscribed 2025"`
	c.Flags().StringVar(&opts.reason, "reason", "", `why (default "imported from FILE")`)
	c.Flags().String("email-column", "", `CSV column with the address (default "email")`)
	return c
}

func printSuppressImport(t streams, file string, res campaign.SuppressImport) {
	fmt.Fprintf(t.out, "%s: %d added, %d already suppressed, %d skipped\n", file, res.Added, res.Already, res.InvalidCount)
	unit := "line"
	if res.CSV {
		unit = "row"
	}
	for _, l := range res.Invalid {
		fmt.Fprintf(t.err, "mailblast: %s: %s %d skipped: %s\n", file, unit, l.Line, l.Reason)
	}
	if more := res.InvalidCount - len(res.Invalid); more > 0 {
		fmt.Fprintf(t.err, "mailblast: %s: and %d more %ss skipped\n", file, more, unit)
	}
}

func newSuppressListCommand() *cobra.Command {
	c, opts := suppressCommand("list", "Print the suppression list", noArgs,
		func(ctx context.Context, cfg *Config, store ledger.Store, opts *suppressOptions, args []string) error {
			enc := json.NewEncoder(opts.io.out)
			return store.Suppressions(ctx, func(s ledger.Suppression) error {
				if opts.json {
					return enc.Encode(s)
				}
				_, err := fmt.Fprintf(opts.io.out, "%s\t%s\t%s\t%s\n", s.Address, s.Source, s.CreatedAt.UTC().Format(time.RFC3339), s.Reason)
				return err
			})
		})
	c.Long = `List prints one suppressed address a line: address, source (manual, import,
bounce), when it was added (UTC) and the reason, separated by tabs; with
--json, one JSON object a line.`
	c.Flags().BoolVar(&opts.json, "json", false, "one JSON object per address")
	return c
}

func newSuppressRemoveCommand() *cobra.Command {
	c, _ := suppressCommand("remove ADDRESS...", "Take addresses off the suppression list", minArgs(1),
		func(ctx context.Context, cfg *Config, store ledger.Store, opts *suppressOptions, args []string) error {
			missing, err := campaign.Unsuppress(ctx, store, args)
			if err != nil {
				return err
			}
			for _, m := range missing {
				fmt.Fprintf(opts.io.err, "mailblast: %s was not suppressed\n", m)
			}
			fmt.Fprintf(opts.io.out, "%d removed\n", len(args)-len(missing))
			return nil
		})
	return c
}
