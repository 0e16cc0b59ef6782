package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailblast/mailblast/campaign"
	"github.com/mailblast/mailblast/ledger"
)

type statusOptions struct {
	json       bool
	configFile string
	cmd        *cobra.Command
	io         streams
}

func newStatusCommand() *cobra.Command {
	opts := &statusOptions{}
	c := &cobra.Command{
		Use:   "status",
		Short: "Show where campaigns stand: counts per state",
		Args:  noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			opts.cmd, opts.io = c, streamsOf(c)
			opts.configFile, _ = c.Flags().GetString("config")
			return runStatus(c.Context(), opts)
		},
	}
	c.Flags().String("campaign", "", "campaign (default: all)")
	c.Flags().BoolVar(&opts.json, "json", false, "one JSON object per campaign")
	return c
}

type statusJSON struct {
	Campaign string `json:"campaign"`
	ledger.Counts
	Finished bool                `json:"finished"`
	Relays   []ledger.RelayStats `json:"relays,omitempty"`
	// NextWindow: the send window is shut now and opens then (window.go).
	NextWindow *time.Time          `json:"next_window,omitempty"`
	Quotas     []campaign.QuotaUse `json:"quotas,omitempty"`
	Seeds      []ledger.SeedSend   `json:"seeds,omitempty"`
	Workers    []ledger.Worker     `json:"workers,omitempty"` // on a shared (PostgreSQL) ledger
}

// statusView is what status shows of one campaign.
type statusView struct {
	name     string
	n        ledger.Counts
	imported bool
	relays   []ledger.RelayStats
	win      windowStatus
	quotas   []campaign.QuotaUse
	seeds    []ledger.SeedSend
	workers  []ledger.Worker
}

func runStatus(ctx context.Context, opts *statusOptions) error {
	cfg, err := loadConfig(opts.cmd.Flags(), opts.configFile)
	if err != nil {
		return err
	}
	// Only read: looking must not create a state directory.
	store, err := openStoreReadOnly(cfg)
	if err != nil {
		return err
	}
	if store != nil {
		defer closeLedger(store)
	}
	list, err := statusCampaigns(ctx, store, cfg.Campaign)
	if err != nil {
		return err
	}
	if len(list) == 0 && !opts.json {
		fmt.Fprintf(opts.io.out, "no campaigns in %s\n", ledgerName(cfg))
	}
	for _, c := range list {
		v, err := statusOf(ctx, cfg, store, c, opts.json)
		if err != nil {
			return err
		}
		printStatus(opts.io.out, v, opts.json)
	}
	return nil
}

// statusOf gathers what status shows of campaign c.
func statusOf(ctx context.Context, cfg *Config, store ledger.Store, c ledger.Campaign, asJSON bool) (statusView, error) {
	v := statusView{name: c.Name, imported: c.Imported}
	var err error
	if v.n, err = store.Counts(ctx, c.ID); err != nil {
		return v, err
	}
	if v.n, err = onTheWire(ctx, store, cfg.StateDir, c, v.n); err != nil {
		return v, err
	}
	if asJSON {
		if v.relays, err = store.Relays(ctx, c.ID); err != nil {
			return v, err
		}
	}
	v.win = nextWindow(ctx, store, c, v.n)
	if v.quotas, err = campaign.QuotasOf(ctx, store, c, cfg.overlay); err != nil {
		return v, err
	}
	if v.seeds, err = store.SeedSends(ctx, c.ID); err != nil {
		return v, err
	}
	v.workers, err = fleetOf(ctx, store, c.ID)
	return v, err
}

// printSeeds sums up the copies sent to seed addresses in one line, apart
// from the recipients' counts.
func printSeeds(w io.Writer, seeds []ledger.SeedSend) {
	if len(seeds) == 0 {
		return
	}
	failed := 0
	for _, s := range seeds {
		if s.Code/100 != 2 {
			failed++
		}
	}
	last := seeds[len(seeds)-1]
	fmt.Fprintf(w, "  seeds: %d copies, %d not accepted; last %s copy to %s at %s: %d %s\n", len(seeds), failed,
		last.Phase, last.Address, last.At.Local().Format(time.DateTime), last.Code, last.Text)
}

// onTheWire: in flight means on the wire. While a run goes on, that is the
// rows its claims hold. Once it has stopped (a crash, kill -9), claimed rows
// it never handed to a connection are simply pending, and only those its
// wire journal names may have reached the relay; the next run settles them.
// On a shared ledger the claims are the database's, whatever machine
// holds them, and this machine's journal does not know them.
func onTheWire(ctx context.Context, store ledger.Store, stateDir string, c ledger.Campaign, n ledger.Counts) (ledger.Counts, error) {
	if _, shared := store.(ledger.Fleet); shared || n.InFlight == 0 || campaign.Running(stateDir, c.Name) {
		return n, nil
	}
	onWire, ok, err := campaign.SettleView(ctx, store, stateDir, c)
	if err != nil || !ok {
		return n, err
	}
	n.Pending += n.InFlight - onWire
	n.InFlight = onWire
	return n, nil
}

// printStatus: a campaign whose import an interrupt or a crash cut short
// is unfinished even when every row imported so far is done.
func printStatus(w io.Writer, v statusView, asJSON bool) {
	n := v.n
	finished := v.imported && n.Pending+n.Deferred+n.InFlight == 0
	if asJSON {
		b, _ := json.Marshal(statusJSON{Campaign: v.name, Counts: n, Finished: finished, Relays: v.relays,
			NextWindow: v.win.at(), Quotas: v.quotas, Seeds: v.seeds, Workers: v.workers})
		fmt.Fprintln(w, string(b))
		return
	}
	defer printWorkers(w, v.workers)
	state := "finished"
	if !finished {
		state = "unfinished"
	}
	fmt.Fprintf(w, "%s (%s): total %d, pending %d, in flight %d, sent %d, deferred %d, failed %d, skipped %d",
		v.name, state, n.Total, n.Pending, n.InFlight, n.Sent, n.Deferred, n.Failed, n.Skipped)
	if n.Bounced+n.Complained+n.Unsubscribed > 0 {
		fmt.Fprintf(w, "; after delivery: bounced %d, complained %d, unsubscribed %d", n.Bounced, n.Complained, n.Unsubscribed)
	}
	if n.Recovered > 0 {
		fmt.Fprintf(w, "; %d were in flight at a crash (possible duplicates)", n.Recovered)
	}
	if !v.imported {
		fmt.Fprint(w, "; the list is not all imported yet (resume goes on)")
	}
	fmt.Fprint(w, v.win.note())
	fmt.Fprintln(w)
	for _, q := range v.quotas {
		fmt.Fprintf(w, "  %s\n", q)
	}
	printSeeds(w, v.seeds)
}

// statusCampaigns are the named campaign, or all of them; none when the
// state directory has no ledger yet.
func statusCampaigns(ctx context.Context, store ledger.Store, name string) ([]ledger.Campaign, error) {
	switch {
	case name != "" && store == nil:
		return nil, &usageError{fmt.Errorf("campaign %q: %w", name, ledger.ErrNotFound)}
	case name != "":
		c, err := findCampaign(ctx, store, name)
		return []ledger.Campaign{c}, err
	case store == nil:
		return nil, nil
	}
	return store.Campaigns(ctx)
}
