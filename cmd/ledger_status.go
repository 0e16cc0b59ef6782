package cmd

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/mailblast/mailblast/ledger"
)

// fleetOf is the workers of campaign id on a shared ledger; nil on
// SQLite. A worker is live while its lease is current (the ledger's word).
func fleetOf(ctx context.Context, store ledger.Store, id int64) ([]ledger.Worker, error) {
	fs, ok := store.(ledger.Fleet)
	if !ok {
		return nil, nil
	}
	return fs.Workers(ctx, id)
}

// printWorkers lists the live workers, one line each, and how many have
// gone (their rows, once their lease lapses, are taken over).
func printWorkers(w io.Writer, ws []ledger.Worker) {
	gone := 0
	for _, x := range ws {
		if !x.Live {
			gone++
			continue
		}
		fmt.Fprintf(w, "  worker %s pid %d: last heartbeat %s ago, %d claimed, %.1f/s",
			x.Host, x.PID, time.Since(x.LastHeartbeat).Round(time.Second), x.Claimed, x.Rate)
		if x.Pace > 0 && x.Pace < 1 {
			fmt.Fprintf(w, ", slowed to %.0f%% by the relay's throttling", 100*x.Pace)
		}
		fmt.Fprintln(w)
	}
	if gone > 0 {
		fmt.Fprintf(w, "  %d earlier or stopped workers (status --json lists them)\n", gone)
	}
}
