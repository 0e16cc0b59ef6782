package sender

import "golang.org/x/time/rate"

// Scale lets each relay use the fraction f (0 < f <= 1) of its configured
// rate: several workers sending one campaign split smtp.rate between them,
// and follow a slow-down another worker's relay asked for. A relay's own
// slow-down keeps its proportion across a rescale. Unpaced relays stay
// unpaced: there is nothing to split.
func (g *Group) Scale(f float64) {
	if f <= 0 || f > 1 {
		f = 1
	}
	for _, p := range g.pools {
		p.gov.scale(rate.Limit(p.cfg.Rate) * rate.Limit(f))
	}
}

// Pace is how far throttling replies have slowed the relays down: the
// lowest share of its (scaled) rate a paced relay may use now, 1 when none
// is slowed. A warm-up ramp is not a slow-down and does not count.
func (g *Group) Pace() float64 {
	pace := 1.0
	for _, p := range g.pools {
		pace = min(pace, p.gov.share())
	}
	return pace
}

func (g *governor) scale(base rate.Limit) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if base <= 0 || g.base == rate.Inf || base == g.base {
		return
	}
	g.lim.SetLimit(g.lim.Limit() * base / g.base)
	g.base = base
}

func (g *governor) share() float64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.base == rate.Inf || g.last.IsZero() {
		return 1
	}
	return min(float64(g.lim.Limit()/g.base), 1)
}
