package campaign

import (
	"testing"
	"time"

	"github.com/mailblast/mailblast/ledger"
)

// TestShare: a worker silent for longer than liveFor is gone and leaves
// its share to the rest; the slowest other live worker sets the pace; this
// worker's own throttle is its governor's business, not counted twice.
func TestShare(t *testing.T) {
	now := time.Now()
	all := []ledger.Worker{
		{ID: "me", LastHeartbeat: now, Pace: 0.25},
		{ID: "b", LastHeartbeat: now.Add(-time.Second), Pace: 0.5},
		{ID: "c", LastHeartbeat: now.Add(-2 * time.Second), Pace: 1},
		{ID: "dead", LastHeartbeat: now.Add(-liveFor - time.Second), Pace: 0.1},
	}
	n, pace := share("me", all)
	if n != 3 || pace != 0.5 {
		t.Errorf("share = %d workers, pace %v; want 3, 0.5", n, pace)
	}
	if n, pace := share("me", all[:1]); n != 1 || pace != 1 {
		t.Errorf("alone: %d workers, pace %v; want 1, 1", n, pace)
	}
}
