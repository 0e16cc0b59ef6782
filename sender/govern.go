package sender

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// governor paces one relay: the configured rate and burst, an optional
// warm-up ramp, and the slow-down when the relay says it is throttling us
// (421, 454, 4.7.x, 450 4.2.1): halve the rate and the active connections
// at once, then win them back step by step while the relay stays quiet.
// Every change is logged. Its fields are guarded by mu.
type governor struct {
	mu      sync.Mutex
	lim     *rate.Limiter
	base    rate.Limit // configured rate; rate.Inf when unpaced
	conns   int        // configured connections
	allowed int        // connections that may send now
	ramp    time.Duration
	start   time.Time
	recover time.Duration
	last    time.Time  // last throttling reaction
	ceiling rate.Limit // observed rate when an unpaced relay first throttled
	sent    [8]int     // messages accepted per second, ring by unix second
	sentAt  [8]int64
	changed chan struct{} // closed and replaced when allowed grows
	logf    func(format string, args ...any)

	// throttles counts every throttling reply, not only the ones that
	// moved the rate, and is not guarded by mu: TakeThrottles drains it
	// from the outcome path without waiting behind a reaction.
	throttles atomic.Int64
}

func newGovernor(cfg *Config) *governor {
	base := rate.Inf
	if cfg.Rate > 0 {
		base = rate.Limit(cfg.Rate)
	}
	burst := max(cfg.Burst, 1)
	g := &governor{base: base, conns: cfg.Connections, allowed: cfg.Connections, ramp: cfg.Ramp,
		start: time.Now(), recover: cfg.ThrottleRecover, changed: make(chan struct{}), logf: cfg.Logf}
	if g.recover <= 0 {
		g.recover = 30 * time.Second
	}
	if g.logf == nil {
		g.logf = func(string, ...any) {}
	}
	g.lim = rate.NewLimiter(g.initial(), burst)
	return g
}

// initial is the rate at the start: a tenth of the configured rate when
// warming up.
func (g *governor) initial() rate.Limit {
	if g.ramp > 0 && g.base != rate.Inf {
		return g.base / 10
	}
	return g.base
}

// pace waits for the rate limiter.
func (g *governor) pace(ctx context.Context) error { return g.lim.Wait(ctx) }

// waitSlot blocks while this connection slot is parked by a slow-down.
func (g *governor) waitSlot(ctx context.Context, slot int, drained <-chan struct{}) error {
	for {
		g.mu.Lock()
		ok, ch := slot < g.allowed, g.changed
		g.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-drained:
			return errDrained
		case <-ch:
		}
	}
}

// throttled: the relay has slowed us down and we have not recovered.
func (g *governor) throttled() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.lim.Limit() != g.base
}

func (g *governor) parked(slot int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slot >= g.allowed
}

// observe counts an accepted message or reacts to a throttling reply.
func (g *governor) observe(e *Error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	if e == nil {
		i := now.Unix() % int64(len(g.sent))
		if g.sentAt[i] != now.Unix() {
			g.sent[i], g.sentAt[i] = 0, now.Unix()
		}
		g.sent[i]++
		return
	}
	if e.Throttle() {
		g.throttles.Add(1)
	}
	if !e.Throttle() || now.Sub(g.last) < time.Second {
		return // one reaction per burst of replies from many connections
	}
	g.last = now
	cur := g.lim.Limit()
	if obs := g.observed(now, g.allowed); cur == rate.Inf || obs < cur {
		if g.ceiling == 0 {
			g.ceiling = obs
		}
		cur = obs
	}
	// A floor keeps a relay that throttles on every connection from
	// starving the campaign: a sixteenth of the configured rate or, when
	// unpaced, of the first observed one (then at least one a second). A
	// slow-down never goes above the configured rate, however slow it is.
	floor := g.base / 16
	if g.base == rate.Inf {
		floor = max(g.ceiling/16, 1)
	}
	next := min(max(cur/2, floor), g.base)
	g.lim.SetLimit(next)
	g.allowed = max(g.allowed/2, 1)
	g.logf("relay is throttling (%s): rate now %s, %d of %d connections", e, rateString(next), g.allowed, g.conns)
}

// observed is the accepted rate over the last five seconds, or since the
// start when that is more recent. Too few messages say little about what
// the relay takes: then assume ten a second per connection.
func (g *governor) observed(now time.Time, conns int) rate.Limit {
	total := 0
	for s := now.Unix() - 4; s <= now.Unix(); s++ {
		i := s % int64(len(g.sent))
		if g.sentAt[i] == s {
			total += g.sent[i]
		}
	}
	if total < 20 {
		return rate.Limit(10 * max(conns, 1))
	}
	secs := min(5, max(now.Sub(g.start).Seconds(), 0.5))
	return rate.Limit(float64(total) / secs)
}

// tick advances the ramp and the recovery; Run calls it every second.
func (g *governor) tick(now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ramp > 0 && g.base != rate.Inf && g.last.IsZero() {
		f := math.Min(1, 0.1+0.9*now.Sub(g.start).Seconds()/g.ramp.Seconds())
		g.lim.SetLimit(g.base * rate.Limit(f))
		return
	}
	if g.last.IsZero() || now.Sub(g.last) < g.recover {
		return
	}
	cur, grew := g.lim.Limit(), false
	if cur < g.base {
		next := cur * 1.5
		if next >= g.base || (g.base == rate.Inf && next >= 2*g.ceiling) {
			next = g.base
		}
		g.lim.SetLimit(next)
		grew = true
	}
	if g.allowed < g.conns {
		g.allowed++
		close(g.changed)
		g.changed = make(chan struct{})
		grew = true
	}
	if grew {
		g.last = now.Add(-g.recover + g.recover/3) // next step a third of the wait later
		g.logf("relay quiet: rate now %s, %d of %d connections", rateString(g.lim.Limit()), g.allowed, g.conns)
	}
}

// rateString shows a rate in the largest unit that keeps it above one, as
// it was likely configured: 20/m, not 0.3/s.
func rateString(l rate.Limit) string {
	switch {
	case l == rate.Inf:
		return "unlimited"
	case l >= 1:
		return fmt.Sprintf("%.1f/s", float64(l))
	case l*60 >= 1:
		return fmt.Sprintf("%.1f/m", float64(l)*60)
	}
	return fmt.Sprintf("%.1f/h", float64(l)*3600)
}

// ParseRate reads a rate such as "50/s", "3000/m" or "100000/h" (a bare
// number is per second) as messages per second. "" and "0" mean unpaced.
func ParseRate(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	num, unit, found := strings.Cut(s, "/")
	per := map[string]float64{"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600}[strings.ToLower(unit)]
	if !found {
		per = 1
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || per == 0 || n < 0 {
		return 0, fmt.Errorf("rate %q: use a number per s, m or h, like 50/s, 3000/m or 100000/h", s)
	}
	return n / per, nil
}

// TakeThrottles returns the throttling replies relay (a Result.Relay) gave
// since the last call, and the connections it may use now (configured,
// halved while it throttles). Each reply is returned once, so a caller
// that adds them up to the outcome it reports counts every one exactly
// once. An unknown relay has none.
func (g *Group) TakeThrottles(relay string) (throttles, conns int) {
	for _, p := range g.pools {
		if p.cfg.Name == relay {
			p.gov.mu.Lock()
			conns = p.gov.allowed
			p.gov.mu.Unlock()
			return int(p.gov.throttles.Swap(0)), conns
		}
	}
	return 0, 0
}
