package cmd

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

func newLedgerMigrateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply the PostgreSQL ledger's schema migrations now (ledger.url)",
		Long: `Migrate brings the PostgreSQL ledger at ledger.url to this version's schema and
exits. Every command does the same on first use, under an advisory lock, so
workers starting at once do not race; migrate is for those who want it done
at deploy time, perhaps with a role that may change the schema. The SQLite
ledger in state_dir needs no migrate.`,
		Example: `  MAILBLAST_LEDGER_URL=postgres://mailblast@db.internal/mailblast?sslmode=verify-full mailblast ledger migrate`,
		Args:    noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			cfg, err := configOf(c)
			if err != nil {
				return err
			}
			return runLedgerMigrate(c.Context(), c.OutOrStdout(), cfg)
		},
	}
}

func runLedgerMigrate(ctx context.Context, out io.Writer, cfg *Config) error {
	if !cfg.Ledger.shared() {
		return configErrorf("ledger.url is not set (MAILBLAST_LEDGER_URL): the SQLite ledger in state_dir migrates itself")
	}
	s, err := openShared(cfg)
	if err != nil {
		return err
	}
	defer closeLedger(s)
	if err := s.Migrate(ctx); err != nil {
		return fmt.Errorf("%w: %s: %w", errLedger, redactedURL(cfg.Ledger.URL), err)
	}
	fmt.Fprintf(out, "%s: schema up to date\n", redactedURL(cfg.Ledger.URL))
	return nil
}
