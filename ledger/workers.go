package ledger

import (
	"context"
	"time"
)

// Worker is one mailblast process working on a campaign, as its last
// heartbeat described it. Only a ledger that several machines share
// (PostgreSQL) knows its workers; see Fleet.
type Worker struct {
	ID            string    `json:"id"` // host:pid:random, unique per process
	Host          string    `json:"host"`
	PID           int       `json:"pid"`
	LastHeartbeat time.Time `json:"last_heartbeat"` // set by the ledger (its clock), not the caller
	Claimed       int       `json:"claimed_rows"`   // rows it holds in flight
	Rate          float64   `json:"rate"`           // messages a second, lately
	// Pace is the share of its configured rate throttling lets it use now
	// (1: not slowed). A throttle one worker sees reaches the others
	// through this.
	Pace float64 `json:"pace"`
	// Live: its lease is current (set by the ledger): the process is
	// running and reaching the database.
	Live bool `json:"live"`
}

// Fleet is what a Store shared by several processes adds: each running
// worker heartbeats, and any process can list the campaign's workers.
// Callers type-assert a Store to it; SQLite does not implement it.
type Fleet interface {
	Heartbeat(ctx context.Context, campaignID int64, w Worker) error
	Workers(ctx context.Context, campaignID int64) ([]Worker, error)
}
