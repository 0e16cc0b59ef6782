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
}

// Result is what became of an envelope. Err nil means the relay accepted it.
// Released means it was never attempted (the run stopped first); the caller
// should put it back in the queue.
type Result struct {
	Env      *Envelope
	Err      *Error
	Released bool
}

// ErrRelayUnavailable ends a run whose relay could not be reached.
var ErrRelayUnavailable = errors.New("relay unavailable")

// Pool is a bounded set of long-lived connections to one relay.
type Pool struct {
	cfg Config
	// Dial opens one connection; tests may wrap it. Defaults to dial.
	dial func(ctx context.Context, cfg *Config) (*conn, error)

	// probe is held by the one worker dialling while the relay is failing,
	// so that a relay that is down sees one spaced attempt at a time.
	probe    sync.Mutex
	mu       sync.Mutex
	failures int       // consecutive failed connects, pool-wide
	notUntil time.Time // no connect attempts before this
	lastErr  *Error
}

// NewPool checks cfg and fills in defaults.
func NewPool(cfg Config) (*Pool, error) {
	if cfg.Host == "" || cfg.Port <= 0 {
		return nil, errors.New("smtp.host and smtp.port must be set")
	}
	if cfg.Connections <= 0 {
		cfg.Connections = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Minute
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = time.Second
	}
	if cfg.BackoffMax < cfg.BackoffMin {
		cfg.BackoffMax = 30 * time.Second
	}
	if cfg.MaxConnectFailures <= 0 {
		cfg.MaxConnectFailures = 8
	}
	if cfg.Helo == "" {
		cfg.Helo = "localhost"
	}
	return &Pool{cfg: cfg, dial: dial}, nil
}

// Run sends envelopes from in until it is closed or soft ends, reporting
// each outcome through report (called from the worker goroutines; it must
// be safe for concurrent use). When hard ends, messages on the wire are
// abandoned: their outcome is unknown and they are not reported. Run
// returns after every worker has exited; its error is ErrRelayUnavailable
// (wrapped with the last failure) or a permanent session failure such as a
// rejected password.
func (p *Pool) Run(soft, hard context.Context, in <-chan *Envelope, report func(Result)) error {
	ctx, cancel := context.WithCancel(soft)
	defer cancel()
	var wg sync.WaitGroup
	var once sync.Once
	var failure error
	for range p.cfg.Connections {
		wg.Go(func() {
			err := p.worker(ctx, hard, in, report)
			if err != nil && ctx.Err() == nil {
				once.Do(func() { failure = err })
				cancel()
			}
		})
	}
	wg.Wait()
	return failure
}

func (p *Pool) worker(ctx, hard context.Context, in <-chan *Envelope, report func(Result)) error {
	var cn *conn
	defer func() {
		if cn != nil {
			cn.close()
		}
	}()
	for {
		var env *Envelope
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-in:
			if !ok {
				return nil
			}
			env = e
		}
		if ctx.Err() != nil {
			report(Result{Env: env, Released: true})
			continue
		}
		var err error
		cn, err = p.deliver(ctx, hard, cn, env, report)
		if err != nil {
			report(Result{Env: env, Released: true})
			return err
		}
	}
}

// deliver tries env on cn, replacing a connection that fails: relay
// trouble is not the recipient's fault, so the message is retried on a new
// connection a couple of times before it is reported deferred.
func (p *Pool) deliver(ctx, hard context.Context, cn *conn, env *Envelope, report func(Result)) (*conn, error) {
	const tries = 3
	var last *Error
	for try := 0; try < tries; try++ {
		if cn == nil {
			var err error
			if cn, err = p.connect(ctx, hard); err != nil {
				return nil, err
			}
		}
		e := cn.sendGuarded(hard, env)
		if e == nil || !e.Relay {
			report(Result{Env: env, Err: e})
			return p.recycle(cn), nil
		}
		cn.raw.Close()
		cn, last = nil, e
		if hard.Err() != nil {
			return nil, nil
		}
	}
	report(Result{Env: env, Err: last})
	return nil, nil
}

func (cn *conn) sendGuarded(hard context.Context, env *Envelope) *Error {
	stop := context.AfterFunc(hard, func() { cn.raw.Close() })
	defer stop()
	return cn.send(env)
}

func (p *Pool) recycle(cn *conn) *conn {
	if cn.usable(p.cfg.MaxMessagesPerConn) {
		return cn
	}
	cn.close()
	return nil
}

// connect dials, sharing one backoff across the pool so that a relay that
// is down sees a few spaced attempts, not a storm from every worker.
func (p *Pool) connect(ctx, hard context.Context) (*conn, error) {
	for {
		if err := p.wait(ctx); err != nil {
			return nil, err
		}
		cn, err := p.dialOnce(ctx, hard)
		if cn != nil || err != nil {
			return cn, err
		}
	}
}

// dialOnce makes one attempt; (nil, nil) means try again after the wait.
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

func (p *Pool) failed(e *Error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failures++
	p.lastErr = e
	if p.failures >= p.cfg.MaxConnectFailures {
		return fmt.Errorf("%w after %d attempts: %v", ErrRelayUnavailable, p.failures, e)
	}
	p.notUntil = time.Now().Add(backoff(p.cfg.BackoffMin, p.cfg.BackoffMax, p.failures))
	return nil
}

// backoff doubles from min to max, with up to 50% jitter so workers that
// failed together do not retry together.
func backoff(min, max time.Duration, n int) time.Duration {
	d := min
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	d = min64(d, max)
	return d/2 + rand.N(d/2+1)
}

func min64(a, b time.Duration) time.Duration {
	if a < b {
		return a
	}
	return b
}
