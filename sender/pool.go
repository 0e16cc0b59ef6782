package sender

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Envelope is one rendered message for one recipient.
type Envelope struct {
	ID   int // the caller's key, e.g. the list row
	Tag  any // the caller's value, handed back in Result
	From string
	To   string
	Data []byte // the message, CRLF line endings
	UTF8 bool   // the address needs SMTPUTF8
	// Reply is set by the pool: the relay's reply to the accepted message,
	// without its code (it often carries a queue ID).
	Reply string
}

// Result is what became of an envelope. Err nil means the relay accepted it.
// Released means it was never attempted (the run stopped first); the caller
// should put it back in the queue.
type Result struct {
	Env      *Envelope
	Err      *Error
	Released bool
	Relay    string // the relay that carried it
}

// ErrRelayUnavailable ends a run whose relays could not be reached.
var ErrRelayUnavailable = errors.New("relay unavailable")

// errTryElsewhere: this relay cannot take a message now; the group hands
// it to another worker.
var errTryElsewhere = errors.New("relay backing off")

// Pool is a bounded set of long-lived connections to one relay.
type Pool struct {
	cfg   Config
	dial  func(ctx context.Context, cfg *Config) (*conn, error)
	gov   *governor
	group *Group

	// probe is held by the one worker dialling while the relay is failing,
	// so that a relay that is down sees one spaced attempt at a time.
	probe    sync.Mutex
	mu       sync.Mutex
	failures int       // consecutive failed connects
	notUntil time.Time // no connect attempts before this
	taken    int       // messages taken, for the group's weighting
}

// NewPool checks cfg and fills in defaults.
func NewPool(cfg Config) (*Pool, error) {
	if cfg.Host == "" || cfg.Port <= 0 {
		return nil, errors.New("smtp.host and smtp.port must be set")
	}
	cfg.Connections = max(cfg.Connections, 1)
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Minute
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = time.Second
	}
	if cfg.BackoffMax < cfg.BackoffMin {
		cfg.BackoffMax = max(30*time.Second, cfg.BackoffMin)
	}
	if cfg.MaxConnectFailures <= 0 {
		cfg.MaxConnectFailures = 8
	}
	if cfg.Helo == "" {
		cfg.Helo = "localhost"
	}
	if cfg.Weight <= 0 {
		cfg.Weight = 1
	}
	if cfg.Name == "" {
		cfg.Name = cfg.addr()
	}
	return &Pool{cfg: cfg, dial: dial, gov: newGovernor(&cfg)}, nil
}

// Run sends envelopes from in through this one relay; see Group.Run.
func (p *Pool) Run(soft, hard context.Context, in <-chan *Envelope, report func(Result)) error {
	return NewGroup(p).Run(soft, hard, in, report)
}

// worker owns one connection slot. It connects lazily, sends one message
// at a time, and stops when in is drained or ctx ends.
func (p *Pool) worker(ctx, hard context.Context, slot int, in <-chan *Envelope, report func(Result)) error {
	var cn *conn
	defer func() {
		if cn != nil {
			cn.close()
		}
	}()
	for {
		if cn != nil && p.gov.parked(slot) {
			cn.close()
			cn = nil
		}
		if p.ready(ctx, slot) != nil {
			return nil
		}
		env, ok := p.group.take(ctx, in)
		if !ok {
			return nil
		}
		if p.gov.pace(ctx) != nil {
			report(Result{Env: env, Released: true})
			return nil
		}
		var err error
		if cn, env, err = p.deliver(ctx, hard, cn, env, p.lookahead(ctx, slot, in), report); err != nil {
			if errors.Is(err, errTryElsewhere) {
				p.group.redo(env)
				continue
			}
			report(Result{Env: env, Released: true})
			return err
		}
	}
}

// lookahead gives the chain another message only when that changes
// nothing else: no pacing to respect, no other relay to share with, and
// the run not stopping. Otherwise the worker takes one at a time.
func (p *Pool) lookahead(ctx context.Context, slot int, in <-chan *Envelope) func() *Envelope {
	if p.cfg.Rate > 0 || len(p.group.pools) > 1 {
		return nil
	}
	return func() *Envelope {
		if ctx.Err() != nil || p.gov.parked(slot) || p.gov.throttled() {
			return nil
		}
		select {
		case env := <-p.group.redoQ:
			return env
		case env, ok := <-in:
			if ok {
				return env
			}
		default:
		}
		return nil
	}
}

// ready waits until this slot may take a message: the relay is not in a
// backoff window, the slot is not parked, and the relay is within its share.
func (p *Pool) ready(ctx context.Context, slot int) error {
	if err := p.wait(ctx); err != nil {
		return err
	}
	if err := p.gov.waitSlot(ctx, slot, p.group.drained); err != nil {
		return err
	}
	return p.group.share(ctx, p)
}

// deliver tries env on cn, replacing a connection that fails: relay
// trouble is not the recipient's fault, so the message is retried on a new
// connection a couple of times before it is reported deferred. next may
// give further messages to chain on the same connection.
func (p *Pool) deliver(ctx, hard context.Context, cn *conn, env *Envelope, next func() *Envelope, report func(Result)) (*conn, *Envelope, error) {
	const tries = 3
	var last *Error
	done := func(m *Envelope, e *Error) {
		p.gov.observe(e)
		report(Result{Env: m, Err: e, Relay: p.cfg.Name})
	}
	for try := 0; try < tries; try++ {
		if cn == nil {
			var err error
			if cn, err = p.dialOnce(ctx, hard); err != nil {
				return nil, env, err
			}
		}
		failed, stray, e := cn.transact(hard, env, next, done)
		if stray != nil {
			p.group.redo(stray)
		}
		if failed == nil {
			return p.recycle(cn), nil, nil
		}
		p.gov.observe(e)
		cn.raw.Close()
		if failed != env { // a later message of the chain: its first try
			try = 0
		}
		cn, last, env = nil, e, failed
		if hard.Err() != nil {
			return nil, nil, nil
		}
	}
	report(Result{Env: env, Err: last, Relay: p.cfg.Name})
	return nil, nil, nil
}

// transact sends env, and more from next when the connection can chain
// them, reporting each through done. failed is a message hit by relay
// trouble, stray one that must go again elsewhere.
func (cn *conn) transact(hard context.Context, env *Envelope, next func() *Envelope, done func(*Envelope, *Error)) (failed, stray *Envelope, e *Error) {
	stop := context.AfterFunc(hard, func() { cn.raw.Close() })
	defer stop()
	if e = cn.refuses(env); e != nil {
		done(env, e)
		return nil, nil, nil
	}
	switch {
	case cn.chunking:
		e = cn.sendChunked(env)
	case cn.pipelining:
		return cn.chain(env, next, done)
	default:
		e = cn.sendStepwise(env)
	}
	if e != nil && e.Relay {
		return env, nil, e
	}
	done(env, e)
	return nil, nil, nil
}
func (p *Pool) recycle(cn *conn) *conn {
	if cn.usable(p.cfg.MaxMessagesPerConn) {
		return cn
	}
	cn.close()
	return nil
}

// dialOnce makes one connect attempt. While the relay is failing only one
// worker probes at a time; a failure sets the pool-wide backoff and sends
// the message elsewhere, until the relay counts as down.
func (p *Pool) dialOnce(ctx, hard context.Context) (*conn, error) {
	if p.failing() {
		p.probe.Lock()
		defer p.probe.Unlock()
		if err := p.wait(ctx); err != nil {
			return nil, err
		}
	}
	cn, err := p.dial(hard, &p.cfg)
	if err == nil {
		p.mu.Lock()
		p.failures = 0
		p.mu.Unlock()
		return cn, nil
	}
	e := Classify("CONNECT", err)
	if e.Permanent {
		return nil, e
	}
	return nil, p.failed(e)
}

func (p *Pool) failing() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failures > 0
}

func (p *Pool) wait(ctx context.Context) error {
	p.mu.Lock()
	d := time.Until(p.notUntil)
	p.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// failed records a failed connect. The relay counts as down after
// MaxConnectFailures in a row, unless another relay of the group is
// working, in which case this one keeps backing off and probing.
func (p *Pool) failed(e *Error) error {
	p.mu.Lock()
	p.failures++
	n := p.failures
	p.notUntil = time.Now().Add(backoff(p.cfg.BackoffMin, p.cfg.BackoffMax, n))
	p.mu.Unlock()
	if n == 1 || n == p.cfg.MaxConnectFailures {
		p.gov.logf("relay %s: connect failed (%d in a row): %v", p.cfg.Name, n, e)
	}
	if n >= p.cfg.MaxConnectFailures && !p.group.othersHealthy(p) {
		return fmt.Errorf("%w after %d attempts: %v", ErrRelayUnavailable, n, e)
	}
	return errTryElsewhere
}

// backoff doubles from min to max, with up to 50% jitter so workers that
// failed together do not retry together.
func backoff(min, max time.Duration, n int) time.Duration {
	d := min
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d/2 + rand.N(d/2+1)
}
