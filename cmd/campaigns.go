package cmd

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mailblast/mailblast/campaign"
	"github.com/mailblast/mailblast/ledger"
)

// campaignLine is one campaign as `campaigns --json` prints it.
type campaignLine struct {
	Name      string    `json:"campaign"`
	Created   time.Time `json:"created"`
	List      string    `json:"list"`
	Finished  bool      `json:"finished"`
	Abandoned bool      `json:"abandoned"`
	LastRun   time.Time `json:"last_run,omitzero"`
	LastExit  *int      `json:"last_exit,omitempty"`
	ledger.Counts
}

func newCampaignsCommand() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "campaigns",
		Short: "List the campaigns in the state directory: counts, finished or not, last run and its exit",
		Args:  noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			return withStore(c, func(ctx context.Context, cfg *Config, store ledger.Store) error {
				return listCampaigns(ctx, c.OutOrStdout(), cfg.StateDir, store, asJSON)
			})
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "one JSON object per campaign")
	return c
}

// withStore runs fn with the configuration and the ledger open.
func withStore(c *cobra.Command, fn func(context.Context, *Config, ledger.Store) error) error {
	configFile, _ := c.Flags().GetString("config")
	cfg, store, err := configAndStore(c.Flags(), configFile)
	if err != nil {
		return err
	}
	defer closeLedger(store)
	return fn(c.Context(), cfg, store)
}

func listCampaigns(ctx context.Context, out io.Writer, stateDir string, store ledger.Store, asJSON bool) error {
	list, err := store.Campaigns(ctx)
	if err != nil {
		return err
	}
	if len(list) == 0 && !asJSON {
		fmt.Fprintf(out, "no campaigns in %s\n", stateDir)
	}
	for _, c := range list {
		line, err := describeCampaign(ctx, store, stateDir, c)
		if err != nil {
			return err
		}
		printCampaign(out, line, asJSON)
	}
	return nil
}

func describeCampaign(ctx context.Context, store ledger.Store, stateDir string, c ledger.Campaign) (campaignLine, error) {
	n, err := store.Counts(ctx, c.ID)
	if err == nil {
		n, err = onTheWire(ctx, store, stateDir, c, n)
	}
	if err != nil {
		return campaignLine{}, err
	}
	line := campaignLine{Name: c.Name, Created: c.CreatedAt, List: c.ListPath, Abandoned: c.Abandoned, Counts: n,
		Finished: c.Imported && n.Pending+n.Deferred+n.InFlight == 0}
	run, ok, err := store.LastRun(ctx, c.ID)
	if err != nil {
		return campaignLine{}, err
	}
	if ok {
		line.LastRun, line.LastExit = run.Ended, &run.ExitCode
	}
	return line, nil
}

func printCampaign(out io.Writer, l campaignLine, asJSON bool) {
	if asJSON {
		b, _ := json.Marshal(l)
		fmt.Fprintln(out, string(b))
		return
	}
	state := "unfinished"
	switch {
	case l.Abandoned:
		state = "abandoned"
	case l.Finished:
		state = "finished"
	}
	last := "never run to the end"
	if l.LastExit != nil {
		last = fmt.Sprintf("last run %s, exit %d", l.LastRun.Format(time.RFC3339), *l.LastExit)
	}
	after := ""
	if l.Bounced+l.Complained+l.Unsubscribed > 0 {
		after = fmt.Sprintf(", bounced %d, complained %d, unsubscribed %d", l.Bounced, l.Complained, l.Unsubscribed)
	}
	fmt.Fprintf(out, "%s (%s): created %s, list %s; total %d, pending %d, deferred %d, sent %d, failed %d, skipped %d%s; %s\n",
		l.Name, state, l.Created.Format(time.RFC3339), l.List, l.Total, l.Pending, l.Deferred, l.Sent, l.Failed, l.Skipped, after, last)
}

func newCampaignCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "campaign",
		Short: "Manage one campaign: abandon it or remove it",
		Args:  noArgs,
	}
	c.AddCommand(newCampaignAbandonCommand(), newCampaignRemoveCommand())
	return c
}

func newCampaignAbandonCommand() *cobra.Command {
	var reason string
	c := &cobra.Command{
		Use:   "abandon NAME",
		Short: "Stop a campaign being resumed, keeping its records: waiting rows become skipped",
		Args:  exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return withStore(c, func(ctx context.Context, cfg *Config, store ledger.Store) error {
				camp, unlock, err := lockedCampaign(ctx, store, cfg, args[0])
				if err != nil {
					return err
				}
				defer unlock()
				n, err := store.Abandon(ctx, camp.ID, reason, time.Now())
				if err != nil {
					return err
				}
				fmt.Fprintf(c.OutOrStdout(), "campaign %s abandoned: %d waiting recipients skipped (%q); its records are kept\n", camp.Name, n, "abandoned: "+reason)
				return nil
			})
		},
	}
	c.Flags().StringVar(&reason, "reason", "campaign abandoned", "the reason recorded on every skipped row")
	return c
}

func newCampaignRemoveCommand() *cobra.Command {
	var yes bool
	c := &cobra.Command{
		Use:   "rm NAME",
		Short: "Delete a campaign and all its records (asks first unless --yes)",
		Args:  exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return withStore(c, func(ctx context.Context, cfg *Config, store ledger.Store) error {
				camp, unlock, err := lockedCampaign(ctx, store, cfg, args[0])
				if err != nil {
					return err
				}
				defer unlock()
				if !yes {
					if err := confirm(c.InOrStdin(), c.ErrOrStderr(), camp.Name); err != nil {
						return err
					}
				}
				if err := store.RemoveCampaign(ctx, camp.ID); err != nil {
					return err
				}
				fmt.Fprintf(c.OutOrStdout(), "campaign %s removed\n", camp.Name)
				return nil
			})
		},
	}
	c.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	return c
}

// lockedCampaign finds a campaign and takes its lock, as a run does: a
// campaign being sent cannot be abandoned or removed under it (exit 73).
func lockedCampaign(ctx context.Context, store ledger.Store, cfg *Config, name string) (ledger.Campaign, func(), error) {
	c, err := findCampaign(ctx, store, name)
	if err != nil {
		return c, nil, err
	}
	unlock, err := campaign.Lock(cfg.StateDir, c.Name)
	if err != nil {
		return c, nil, err
	}
	// On a shared ledger the lock file is this machine's only: workers on
	// other machines are seen by their live leases.
	if err := noLiveWorkers(ctx, store, c); err != nil {
		unlock()
		return c, nil, err
	}
	return c, unlock, nil
}

// noLiveWorkers refuses (exit 73) while workers send c on a shared ledger.
func noLiveWorkers(ctx context.Context, store ledger.Store, c ledger.Campaign) error {
	ws, err := fleetOf(ctx, store, c.ID)
	if err != nil {
		return err
	}
	var live []string
	for _, w := range ws {
		if w.Live {
			live = append(live, fmt.Sprintf("%s pid %d", w.Host, w.PID))
		}
	}
	if len(live) > 0 {
		return fmt.Errorf("%w: %d workers are sending %s on the shared ledger (%s); stop them first",
			campaign.ErrLocked, len(live), c.Name, strings.Join(live, ", "))
	}
	return nil
}

// findCampaign looks name up; a miss is a usage error naming the
// campaigns there are. A list's file name (with .csv) finds its campaign.
func findCampaign(ctx context.Context, store ledger.Store, name string) (ledger.Campaign, error) {
	for _, n := range []string{name, strings.TrimSuffix(name, ".csv")} {
		if c, err := store.Campaign(ctx, n); err == nil {
			return c, nil
		}
	}
	list, err := store.Campaigns(ctx)
	if err != nil {
		return ledger.Campaign{}, err
	}
	var names []string
	for _, c := range list {
		names = append(names, c.Name)
	}
	if len(names) == 0 {
		return ledger.Campaign{}, &usageError{fmt.Errorf("no campaign %q: the ledger has no campaigns", name)}
	}
	return ledger.Campaign{}, &usageError{fmt.Errorf("no campaign %q; there are: %s", name, strings.Join(names, ", "))}
}

// confirm asks on a terminal; without one, it refuses rather than guess.
func confirm(in io.Reader, out io.Writer, name string) error {
	if f, ok := in.(*os.File); !ok || !term.IsTerminal(int(f.Fd())) {
		return &usageError{fmt.Errorf("not removing campaign %s without confirmation: add --yes", name)}
	}
	fmt.Fprintf(out, "Delete campaign %s and all its records? [y/N] ", name)
	answer, _ := bufio.NewReader(in).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
		return &usageError{fmt.Errorf("campaign %s kept", name)}
	}
	return nil
}
