package sender

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// TestSlowDownNeverExceedsTheRate: at any configured rate, fast or far
// under one a second, a throttling reply lowers the rate, and the recovery
// brings it back to the configured one, never above it.
func TestSlowDownNeverExceedsTheRate(t *testing.T) {
	for _, r := range []float64{1.0 / 3600, 20.0 / 60, 0.5, 1, 50} {
		t.Run(fmt.Sprintf("%g/s", r), func(t *testing.T) {
			var logs []string
			g := newGovernor(&Config{Settings: Settings{Rate: Rate(r), Connections: 4, ThrottleRecover: time.Second},
				Logf: func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }})
			base := rate.Limit(r)
			g.observe(&Error{Code: 421, Enhanced: "4.7.0", Relay: true})
			if got := g.lim.Limit(); got > base/2 {
				t.Fatalf("throttled to %v/s, configured %v/s", float64(got), r)
			}
			now := time.Now()
			for i := 0; i < 100 && g.lim.Limit() != base; i++ {
				now = now.Add(time.Second)
				g.tick(now)
				if got := g.lim.Limit(); got > base {
					t.Fatalf("recovered to %v/s, above the configured %v/s", float64(got), r)
				}
			}
			if got := g.lim.Limit(); got != base {
				t.Errorf("recovered to %v/s, want %v/s", float64(got), r)
			}
			if r < 1 && !strings.Contains(logs[0], "/m") && !strings.Contains(logs[0], "/h") {
				t.Errorf("a rate under 1/s logged as %q", logs[0])
			}
		})
	}
}

// TestIdleCloseLeavesTheRate: an idle-timeout close is not throttling.
func TestIdleCloseLeavesTheRate(t *testing.T) {
	g := newGovernor(&Config{Settings: Settings{Rate: 10, Connections: 4}})
	g.observe(&Error{Code: 421, Enhanced: "4.4.2", Relay: true, Message: "idle timeout"})
	if g.lim.Limit() != 10 || g.allowed != 4 {
		t.Errorf("rate %v, %d connections after an idle close", g.lim.Limit(), g.allowed)
	}
}
