package ledger

// TEMPORARY stand-in for pgstore's ledger/workers.go (his file): the types
// pgfleet asked for in /work/briefs5/pgfleet-asks.md, so that campaign and
// cmd build before his branch is merged. On merge, take his version.

import (
	"context"
	"errors"
	"time"
)

// Worker is one mailblast process sending a campaign on a shared ledger.
type Worker struct {
	ID      string
	Host    string
	PID     int
	Claimed int
	Rate    float64
	Pace    float64
	Beat    time.Time
}

// Fleet is a ledger several workers share.
type Fleet interface {
	Heartbeat(ctx context.Context, campaignID int64, w Worker) error
	Workers(ctx context.Context, campaignID int64) ([]Worker, error)
}

// ErrImportBusy: another worker is importing the campaign's list.
var ErrImportBusy = errors.New("another worker is importing the list")
