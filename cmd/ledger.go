package cmd

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/mailblast/mailblast/ledger"
)

func newLedgerCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "ledger",
		Short: "Look after the ledger file",
		Args:  noArgs,
	}
	c.AddCommand(newLedgerMigrateCommand())
	c.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Check the ledger with SQLite's integrity_check (exit 0 sound, 74 damaged)",
		Long: `Check reads the whole ledger and checks every page, table and index with
SQLite's integrity_check. It changes nothing and can run beside a send. It
exits 0 when the ledger is sound and 74, saying how to recover, when it is
damaged. (send and resume run the quicker quick_check at every start.)`,
		Args: noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			cfg, err := configOf(c)
			if err != nil {
				return err
			}
			return runLedgerCheck(c.OutOrStdout(), cfg)
		},
	})
	return c
}

func runLedgerCheck(out io.Writer, cfg *Config) error {
	if cfg.Ledger.shared() {
		return configErrorf("ledger check reads the SQLite ledger in state_dir; ledger.url names a PostgreSQL one: check it with PostgreSQL's own tools (pg_amcheck)")
	}
	path := ledgerPath(cfg)
	if err := ledger.Check(path); err != nil {
		if e := ledgerError(err); e != err {
			return e
		}
		return fmt.Errorf("%w: %w", errLedger, err)
	}
	fmt.Fprintf(out, "%s: ok\n", path)
	return nil
}
