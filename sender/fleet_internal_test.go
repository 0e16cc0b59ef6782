package sender

import (
	"testing"

	"golang.org/x/time/rate"
)

// TestScaleSplitsTheRate: a fleet of three workers gives each a third of
// smtp.rate; a throttle keeps its proportion across a rescale, shows in
// Pace, and a relay without a rate is left unpaced.
func TestScaleSplitsTheRate(t *testing.T) {
	paced, err := NewPool(Config{Settings: Settings{Host: "h", Port: 25, Rate: 30, Connections: 4}})
	if err != nil {
		t.Fatal(err)
	}
	unpaced, _ := NewPool(Config{Settings: Settings{Host: "u", Port: 25, Connections: 4}})
	g := NewGroup(paced, unpaced)
	g.Scale(1.0 / 3)
	if got := paced.gov.lim.Limit(); got != 10 {
		t.Fatalf("a third of 30/s is %v/s", float64(got))
	}
	if got := unpaced.gov.lim.Limit(); got != rate.Inf {
		t.Fatalf("unpaced relay scaled to %v/s", float64(got))
	}
	if p := g.Pace(); p != 1 {
		t.Fatalf("pace %v before any throttle, want 1", p)
	}
	paced.gov.observe(&Error{Code: 421, Enhanced: "4.7.0", Relay: true})
	if got := paced.gov.lim.Limit(); got != 5 {
		t.Fatalf("throttled to %v/s, want 5", float64(got))
	}
	if p := g.Pace(); p != 0.5 {
		t.Fatalf("pace %v after one halving, want 0.5", p)
	}
	g.Scale(1) // the other workers died: this one takes the whole rate, still halved
	if got := paced.gov.lim.Limit(); got != 15 {
		t.Fatalf("rescaled to %v/s, want 15 (half of 30)", float64(got))
	}
	if p := g.Pace(); p != 0.5 {
		t.Fatalf("pace %v after the rescale, want 0.5", p)
	}
}
