package sender

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Allowance is a relay's room under its quota and warm-up. The caller
// counts what its ledger holds; the pool asks before each message and
// gives the room back when the message was not accepted.
type Allowance interface {
	// Take reserves room for one message; false when there is none now.
	Take() bool
	// Return gives back the room of a message the relay did not accept
	// (deferred, failed, or never sent).
	Return()
}

// ErrQuota ends a run's sending when no relay has room left under its
// quota or warm-up. The message that found no room is reported Released.
var ErrQuota = errors.New("no relay has room under its quota")

// limits holds the group's allowances and which envelope holds whose
// room. A relay found without room takes nothing more in that Run: its
// workers hand their message to a relay that has room, or, when none has,
// end the Run with ErrQuota.
type limits struct {
	mu   sync.Mutex
	by   map[*Pool]Allowance
	full map[*Pool]bool
	held map[*Envelope]*Pool
	n    map[*Pool]int // messages holding each relay's room
}

// Limit gives each relay the Allowance limit returns for its name (nil:
// no limit). Call it before Run.
func (g *Group) Limit(limit func(relay string) Allowance) {
	l := &limits{by: map[*Pool]Allowance{}, full: map[*Pool]bool{}, held: map[*Envelope]*Pool{}, n: map[*Pool]int{}}
	for _, p := range g.pools {
		if a := limit(p.cfg.Name); a != nil {
			l.by[p] = a
		}
	}
	g.lim = l
}

// limited: p has an allowance, so each message must be admitted one at a
// time (no chaining past the check).
func (g *Group) limited(p *Pool) bool {
	if g.lim == nil {
		return false
	}
	g.lim.mu.Lock()
	defer g.lim.mu.Unlock()
	return g.lim.by[p] != nil
}

// full: p found no room in this Run.
func (g *Group) full(p *Pool) bool {
	if g.lim == nil {
		return false
	}
	g.lim.mu.Lock()
	defer g.lim.mu.Unlock()
	return g.lim.full[p]
}

// resetLimits starts a Run with every relay worth asking again.
func (g *Group) resetLimits() {
	if g.lim != nil {
		g.lim.mu.Lock()
		clear(g.lim.full)
		g.lim.mu.Unlock()
	}
}

// admit reserves p's room for env. Without room, p is full: env goes to
// another relay that is not (ok false, err nil: the worker ends). When
// every relay is full, p first waits for its messages on the way (a
// deferred one gives its room back); then env is released and err is
// ErrQuota.
func (g *Group) admit(ctx context.Context, p *Pool, env *Envelope, report func(Result)) (ok bool, err error) {
	if g.lim == nil {
		return true, nil
	}
	g.lim.mu.Lock()
	a := g.lim.by[p]
	g.lim.mu.Unlock()
	switch {
	case a == nil:
		return true, nil
	case a.Take(), !g.markFull(p) && g.room(ctx, p, a): // outside the lock: Take may read the ledger
		g.hold(p, env)
		return true, nil
	case ctx.Err() != nil:
		report(Result{Env: env, Released: true})
		return false, nil
	case g.markFull(p):
		g.redo(env)
		return false, nil
	}
	report(Result{Env: env, Released: true})
	return false, ErrQuota
}

func (g *Group) hold(p *Pool, env *Envelope) {
	g.lim.mu.Lock()
	g.lim.held[env] = p
	g.lim.n[p]++
	g.lim.full[p] = false
	g.lim.mu.Unlock()
}

// room waits while p's messages on the way hold room (a deferred one
// gives its room back), asking a again, until a gives some or none is left.
func (g *Group) room(ctx context.Context, p *Pool, a Allowance) bool {
	for {
		g.lim.mu.Lock()
		busy := g.lim.n[p] > 0
		g.lim.mu.Unlock()
		if !busy || Sleep(ctx, 10*time.Millisecond) != nil {
			return false
		}
		if a.Take() {
			return true
		}
	}
}

// Sleep waits d, or until ctx ends (its error then).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// markFull marks p full and reports whether another relay still may
// have room (it is neither full nor failing).
func (g *Group) markFull(p *Pool) bool {
	g.lim.mu.Lock()
	defer g.lim.mu.Unlock()
	g.lim.full[p] = true
	for _, o := range g.pools {
		if !g.lim.full[o] && !o.failing() {
			return true
		}
	}
	return false
}

// settle ends env's hold on its relay's room, giving it back unless the
// relay accepted the message.
func (g *Group) settle(env *Envelope, accepted bool) {
	if g.lim == nil {
		return
	}
	g.lim.mu.Lock()
	p, ok := g.lim.held[env]
	if ok {
		delete(g.lim.held, env)
		g.lim.n[p]--
	}
	a := g.lim.by[p]
	g.lim.mu.Unlock()
	if ok && !accepted {
		a.Return()
	}
}

// settling settles every result before report hears of it.
func (g *Group) settling(report func(Result)) func(Result) {
	if g.lim == nil {
		return report
	}
	return func(res Result) {
		g.settle(res.Env, !res.Released && res.Err == nil)
		report(res)
	}
}
