package cmd

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/mailblast/mailblast/campaign"
	"github.com/mailblast/mailblast/ledger"
)

// workerJSON is one worker in status --json.
type workerJSON struct {
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	Beat    time.Time `json:"last_heartbeat"`
	Claimed int       `json:"claimed"`
	Rate    float64   `json:"rate"`
	Pace    float64   `json:"pace"`
	Live    bool      `json:"live"`
}

// silentFor: a campaign whose newest heartbeat is older than this, by
// this machine's clock, has no live worker at all (the margin allows for
// clocks a little apart).
const silentFor = time.Minute

// fleetOf is the workers of campaign id on a shared ledger, newest first
// out of the ledger's order; nil on SQLite.
func fleetOf(ctx context.Context, store ledger.Store, id int64) ([]workerJSON, error) {
	fs, ok := store.(ledger.Fleet)
	if !ok {
		return nil, nil
	}
	all, err := fs.Workers(ctx, id)
	if err != nil {
		return nil, err
	}
	live := campaign.Live(all)
	out := make([]workerJSON, 0, len(all))
	for _, w := range all {
		out = append(out, workerJSON{Host: w.Host, PID: w.PID, Beat: w.Beat, Claimed: w.Claimed, Rate: w.Rate,
			Pace: w.Pace, Live: live[w.ID] && time.Since(w.Beat) < silentFor})
	}
	return out, nil
}

// printWorkers lists the live workers, one line each, and how many have
// gone (their rows, once their lease lapses, are taken over).
func printWorkers(w io.Writer, ws []workerJSON) {
	gone := 0
	for _, x := range ws {
		if !x.Live {
			gone++
			continue
		}
		fmt.Fprintf(w, "  worker %s pid %d: last heartbeat %s ago, %d claimed, %.1f/s",
			x.Host, x.PID, time.Since(x.Beat).Round(time.Second), x.Claimed, x.Rate)
		if x.Pace > 0 && x.Pace < 1 {
			fmt.Fprintf(w, ", slowed to %.0f%% by the relay's throttling", 100*x.Pace)
		}
		fmt.Fprintln(w)
	}
	if gone > 0 {
		fmt.Fprintf(w, "  %d earlier or stopped workers (status --json lists them)\n", gone)
	}
}
