package sender

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Group spreads one stream of envelopes over several relays in proportion
// to their weights. A relay that is failing is skipped (its workers back
// off and probe) until it recovers; a message its worker could not send is
// handed to another worker, never lost or sent twice.
type Group struct {
	pools []*Pool
	redoQ chan *Envelope

	mu      sync.Mutex
	changed chan struct{} // closed and replaced when a share moves

	// drained is closed once in is closed and empty, so that workers
	// parked by a slow-down or waiting for their share stop too.
	drained   chan struct{}
	drainOnce sync.Once

	lim *limits // quotas and warm-ups (sender/quota_gate.go); nil: none
}

// NewGroup groups pools; each keeps its own connections, rate and backoff.
func NewGroup(pools ...*Pool) *Group {
	n := 0
	for _, p := range pools {
		n += p.cfg.Connections
	}
	g := &Group{pools: pools, redoQ: make(chan *Envelope, 2*n+1), changed: make(chan struct{}), drained: make(chan struct{})}
	for _, p := range pools {
		p.group = g
	}
	return g
}

// Run sends envelopes from in until it is closed or soft ends, reporting
// each outcome through report (called from worker goroutines; it must be
// safe for concurrent use). When hard ends, messages on the wire are
// abandoned: their outcome is unknown and they are not reported. Run
// returns after every worker has exited; its error is ErrRelayUnavailable
// (wrapped with the last failure) when every relay is down, or a permanent
// session failure such as a rejected password.
func (g *Group) Run(soft, hard context.Context, in <-chan *Envelope, report func(Result)) error {
	ctx, cancel := context.WithCancel(soft)
	defer cancel()
	g.resetLimits()
	report = g.settling(report)
	g.drained, g.drainOnce = make(chan struct{}), sync.Once{} // the last Run's in was drained, not this one's
	var wg sync.WaitGroup
	var once sync.Once
	var failure error
	for _, p := range g.pools {
		for slot := range p.cfg.Connections {
			wg.Go(func() {
				err := p.worker(ctx, hard, slot, in, report)
				if err != nil && ctx.Err() == nil {
					once.Do(func() { failure = err })
					cancel()
				}
			})
		}
	}
	tickCtx, stopTick := context.WithCancel(ctx)
	var tw sync.WaitGroup
	tw.Go(func() { g.tick(tickCtx) })
	wg.Wait()
	stopTick()
	tw.Wait()
	for {
		select {
		case env := <-g.redoQ:
			report(Result{Env: env, Released: true})
		default:
			return failure
		}
	}
}

// tick drives the governors' ramps and recoveries.
func (g *Group) tick(ctx context.Context) {
	every := time.Second
	for _, p := range g.pools {
		every = min(every, max(p.gov.recover/4, 10*time.Millisecond))
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			for _, p := range g.pools {
				p.gov.tick(now)
			}
		}
	}
}

// take gives the next envelope: one another relay handed back first.
func (g *Group) take(ctx context.Context, in <-chan *Envelope) (*Envelope, bool) {
	select {
	case env := <-g.redoQ:
		return env, true
	default:
	}
	select {
	case env := <-g.redoQ:
		return env, true
	case env, ok := <-in:
		if ok {
			return env, true
		}
		select { // in is drained; one may still be handed back
		case env := <-g.redoQ:
			return env, true
		default:
			g.drainOnce.Do(func() { close(g.drained) })
			return nil, false
		}
	case <-ctx.Done():
		return nil, false
	}
}

// redo hands an envelope to whichever worker takes next. The queue holds
// one per worker, and a worker hands back at most the one it holds.
func (g *Group) redo(env *Envelope) {
	g.settle(env, false)
	g.redoQ <- env
}

// share blocks while p is ahead of its weight among the healthy relays.
func (g *Group) share(ctx context.Context, p *Pool) error {
	if len(g.pools) == 1 {
		return nil
	}
	for {
		g.mu.Lock()
		ok, ch := g.within(p), g.changed
		if ok {
			p.taken++
			close(g.changed)
			g.changed = make(chan struct{})
		}
		g.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-g.drained:
			return errDrained
		case <-ch:
		case <-time.After(100 * time.Millisecond): // a relay may have failed meanwhile
		}
	}
}

// within: p may take one more if its count per weight is not ahead of the
// slowest healthy relay's by more than its connection count.
func (g *Group) within(p *Pool) bool {
	mine := float64(p.taken) / p.cfg.Weight
	for _, o := range g.pools {
		if o == p || o.failing() || g.full(o) {
			continue
		}
		if theirs := float64(o.taken) / o.cfg.Weight; mine > theirs+float64(p.cfg.Connections)/p.cfg.Weight {
			return false
		}
	}
	return true
}

var errDrained = errors.New("no more envelopes")

func (g *Group) othersHealthy(p *Pool) bool {
	for _, o := range g.pools {
		if o != p && !o.failing() && !g.full(o) {
			return true
		}
	}
	return false
}
