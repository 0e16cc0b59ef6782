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
	// EnvID, when set, goes as ENVID (RFC 3461) on MAIL FROM, with To as
	// ORCPT on RCPT TO, where the relay offers DSN: a bounce then names
	// the message even if the relay rewrote the envelope sender.
	EnvID string
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
	d := DefaultSettings()
	cfg.Connections = max(cfg.Connections, 1)
	if cfg.Timeout <= 0 {
		cfg.Timeout = d.Timeout
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = d.Backoff
	}
	if cfg.BackoffMax < cfg.Backoff {
		cfg.BackoffMax = max(BackoffMax, cfg.Backoff)
	}
	if cfg.ConnectAttempts <= 0 {
		cfg.ConnectAttempts = d.ConnectAttempts
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
	if err := cfg.shareTokens(); err != nil {
		return nil, err
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
		if ok, err := p.group.admit(ctx, p, env, report); !ok {
			return err
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
	if p.cfg.Rate > 0 || len(p.group.pools) > 1 || p.group.limited(p) {
		return nil
	}
	return func() *Envelope {
		if ctx.Err() != nil || p.gov.parked(slot) || p.gov.throttled() {
			return nil
		}
		select {
		case env := <-p.group.redoQ:
			p.onWire(env)
			return env
		case env, ok := <-in:
			if ok {
				p.onWire(env)
				return env
			}
		default:
		}
		return nil
	}
}

func (p *Pool) onWire(env *Envelope) {
	if p.cfg.OnWire != nil {
		p.cfg.OnWire(env)
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
// trouble is not the recipient's fault, so a message that never reached
// the relay whole is tried again on a new connection a couple of times
// before it is reported deferred. One whose content and final dot went out
// is reported at once: the relay may have it, and each transmission is one
// attempt. next may give further messages to chain on the same connection.
func (p *Pool) deliver(ctx, hard context.Context, cn *conn, env *Envelope, next func() *Envelope, report func(Result)) (*conn, *Envelope, error) {
	const tries = 3
	done := func(m *Envelope, e *Error) {
		p.gov.observe(e)
		report(Result{Env: m, Err: e, Relay: p.cfg.Name})
	}
	for try := 1; ; try++ {
		if cn == nil {
			var err error
			if cn, err = p.dialOnce(ctx, hard); err != nil {
				return nil, env, err
			}
		}
		p.onWire(env)
		t := cn.transact(hard, env, next, done)
		if t == nil {
			return p.recycle(cn), nil, nil
		}
		if t.stray != nil {
			p.group.redo(t.stray)
		}
		cn.raw.Close()
		cn = nil
		if hard.Err() != nil {
			return nil, nil, nil
		}
		if t.env != env { // a later message of the chain: its first try
			env, try = t.env, 1
		}
		if t.sent || try == tries {
			done(env, t.err)
			return nil, nil, nil
		}
		p.gov.observe(t.err)
		if p.gov.pace(ctx) != nil { // a retry is paced like any transmission
			report(Result{Env: env, Released: true})
			return nil, nil, nil
		}
	}
}

// trouble is relay trouble that ended a transaction and its connection.
type trouble struct {
	env   *Envelope // the message it hit
	sent  bool      // env's content and end went out: the relay may have it
	stray *Envelope // commands out, content not: free to go anywhere again
	err   *Error
}

// transact sends env, and more from next when the connection can chain
// them, reporting each through done, until relay trouble.
func (cn *conn) transact(hard context.Context, env *Envelope, next func() *Envelope, done func(*Envelope, *Error)) *trouble {
	stop := context.AfterFunc(hard, func() { cn.raw.Close() })
	defer stop()
	if e := cn.refuses(env); e != nil {
		done(env, e)
		return nil
	}
	var e *Error
	var sent bool
	switch {
	case cn.chunking:
		e, sent = cn.sendChunked(env)
	case cn.pipelining:
		return cn.chain(env, next, done)
	default:
		e, sent = cn.sendStepwise(env)
	}
	if e != nil && e.Relay {
		return &trouble{env: env, sent: sent, err: e}
	}
	done(env, e)
	return nil
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
	start := time.Now()
	cn, err := p.dial(hard, &p.cfg)
	if err == nil {
		p.mu.Lock()
		p.failures = 0
		p.mu.Unlock()
		return cn, nil
	}
	e := Classify("CONNECT", err)
	switch {
	case refusal(e):
		return nil, fmt.Errorf("%w: it refuses this client: %w", ErrRelayUnavailable, e)
	case e.Permanent:
		return nil, e
	}
	return nil, p.failed(e, start)
}

// refusal: the relay answered the greeting or EHLO with 5xx. It is up and
// turning us away, which no setting of ours cures and no retry soon will.
func refusal(e *Error) bool {
	return e.Code >= 500 && (e.Command == "CONNECT" || e.Command == "EHLO")
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

// failed records a failed connect that started at start. The relay counts
// as down after MaxConnectFailures in a row, unless another relay of the
// group is working, in which case this one keeps backing off and probing.
// The backoff counts from the start of the attempt, so that an attempt
// that took its whole timeout is not followed by a long wait as well.
func (p *Pool) failed(e *Error, start time.Time) error {
	p.mu.Lock()
	p.failures++
	n := p.failures
	p.notUntil = start.Add(backoff(p.cfg.Backoff, p.cfg.BackoffMax, n))
	p.mu.Unlock()
	switch n {
	case 1:
		p.gov.logf("relay %s: connect failed: %v; retrying, %d attempts in all, for %s at most",
			p.cfg.Name, e, p.cfg.ConnectAttempts, p.cfg.GiveUpAfter().Round(time.Second))
	case p.cfg.ConnectAttempts:
		p.gov.logf("relay %s: connect failed (%d in a row): %v", p.cfg.Name, n, e)
	}
	if n >= p.cfg.ConnectAttempts && !p.group.othersHealthy(p) {
		return fmt.Errorf("%w after %d attempts: %v", ErrRelayUnavailable, n, e)
	}
	return errTryElsewhere
}

// GiveUpAfter is the longest a relay that cannot be reached holds a run
// before it counts as down: ConnectAttempts attempts, each of at most
// min(Timeout, 30s) and started the longest backoff after the previous
// one started, or when it ended if that is later.
func (c *Config) GiveUpAfter() time.Duration {
	setup := min(c.Timeout, maxSetup)
	total := setup
	for n := 1; n < c.ConnectAttempts; n++ {
		total += max(setup, backoffBase(c.Backoff, c.BackoffMax, n))
	}
	return total
}

// backoff doubles from min to max, with up to 50% jitter so workers that
// failed together do not retry together.
func backoff(min, max time.Duration, n int) time.Duration {
	d := backoffBase(min, max, n)
	return d/2 + rand.N(d/2+1)
}

func backoffBase(lo, hi time.Duration, n int) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}
