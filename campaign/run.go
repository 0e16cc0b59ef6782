package campaign

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/mailblast/mailblast/feedback"
	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/recipients"
	"github.com/mailblast/mailblast/sender"
	"github.com/mailblast/mailblast/templates"
)

// run is the state of one Run call.
type run struct {
	opts  *Options
	store ledger.Store
	c     ledger.Campaign
	tmpl  *templates.Template
	list  *recipients.Reader
	pool  *sender.Group
	// journal records the rows handed to connections, for crash recovery;
	// nil when it could not be opened.
	journal *wireJournal
	// supp hears of suppressions made while the run goes on.
	supp *suppressWatch
	sum  Summary

	imp      *importing  // the list's import, while this run does it
	listRows int         // the list's rows, when this run imports it
	listStat os.FileInfo // the list as prescan read it, when this run imports it
	started  bool        // the reporter has been started
	verpKey  []byte      // signs the VERP and ENVID tokens, with Settings.ReturnPath
	win      *schedule   // Settings.Window compiled; nil sends at any time
	// firstSent is closed when this run's first message is accepted: the
	// seeds' start copies wait for it (seeds.go).
	firstSent     chan struct{}
	firstSentOnce sync.Once
	quota         *quotas   // the relays' quotas and warm-ups; nil: none (campaign/quota.go)
	fleet         *fleet    // the heartbeat, on a ledger several workers share
	waitSaid      time.Time // when waitShared last said it waits
}

// Run runs the campaign until nothing is due within the retry wait, the
// relay gives up, or ctx ends (an interrupt: in-flight messages get
// Options.Grace to finish, a second cancel of hard abandons them).
func Run(ctx, hard context.Context, opts Options) (Summary, error) {
	start := time.Now()
	r := &run{opts: &opts, store: opts.Store}
	r.sum.Campaign = opts.Name
	unlock, err := Lock(opts.StateDir, opts.Name)
	if err != nil {
		return r.sum, err
	}
	defer unlock()
	err = r.run(ctx, hard)
	if r.journal != nil {
		r.journal.close()
	}
	if r.imp != nil {
		r.imp.stop()
	}
	if r.list != nil {
		_ = r.list.Close() // read only: a failed close loses nothing
	}
	r.sum.Elapsed = time.Since(start)
	if r.c.ID != 0 {
		bg := context.WithoutCancel(ctx)
		r.sum.Counts, _ = r.store.Counts(bg, r.c.ID)
		r.sum.NextDue, _, _ = r.store.NextDue(bg, r.c.ID)
		// Rows never claimed are due now in the ledger, but with every
		// relay's quota used up nothing goes before there is room.
		r.sum.NextDue = laterOf(r.sum.NextDue, r.quota.heldUntil())
	}
	// A run that stopped before it started (a missing template, a changed
	// list) has nothing to sum up: its error says it all.
	if opts.Reporter != nil && r.started {
		opts.Reporter.Finish(r.sum)
	}
	return r.sum, err
}

func (r *run) run(ctx, hard context.Context) error {
	var err error
	if r.tmpl, err = loadTemplate(r.opts.Settings); err != nil {
		return err
	}
	if err := r.compileWindow(); err != nil {
		return err
	}
	if err := r.load(ctx); err != nil {
		return err
	}
	if r.opts.Settings.ReturnPath != "" {
		if r.verpKey, err = feedback.VERPKey(ctx, r.store); err != nil {
			return err
		}
	}
	if err := r.settle(ctx); err != nil {
		return err
	}
	if err := r.wake(ctx); err != nil {
		return err
	}
	// After settle: the suppressions it applies are there for the import.
	if r.listStat != nil {
		if err := r.importOrWait(ctx); err != nil {
			return err
		}
	}
	if err := r.start(ctx); err != nil {
		return err
	}
	if r.list, err = recipients.Open(r.opts.Settings.List, recipients.Options{EmailColumn: r.opts.Settings.EmailColumn}); err != nil {
		return err
	}
	if err := r.imp.wait(ctx, 2+10); err != nil {
		return err
	}
	due, err := r.store.Due(ctx, r.c.ID, r.opts.now(), 0, 10)
	if err != nil {
		return err
	}
	if err := r.preflight(r.tmpl, r.list, due); err != nil {
		return err
	}
	if r.pool, err = r.relays(); err != nil {
		return err
	}
	defer r.startFleet(ctx)()
	r.limitRelays()
	return r.seeded(ctx, func() error { return r.passes(ctx, hard) })
}

func (r *run) start(ctx context.Context) error {
	total, waiting, err := r.store.Progress(ctx, r.c.ID)
	if err != nil || r.opts.Reporter == nil {
		return err
	}
	done := total - waiting
	if r.imp != nil { // the ledger has only the rows imported so far
		total = r.listRows
	}
	r.opts.Reporter.Start(r.c.Name, total, done)
	r.started = true
	return nil
}

// loadTemplate builds the campaign's message template from its settings.
// Every command that renders (send, preview, validate, dry runs) uses it,
// so they all build the same bytes.
func loadTemplate(s Settings) (*templates.Template, error) {
	o := s.Message
	o.Path = s.Template
	t, err := templates.Load(o)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %w", ErrTemplate, err)
	}
	return t, err
}

// recoverInFlight settles the rows a crash left claimed: those the wire
// journal shows handed to a connection, or every one when the journal
// cannot be trusted. Then it starts this run's journal.
func (r *run) recoverInFlight(ctx context.Context) (int, error) {
	path := journalPath(r.opts.StateDir, r.opts.Name)
	var n int
	var err error
	if wire, ok := readJournal(path); ok {
		n, err = r.store.RecoverOnWire(ctx, r.c.ID, r.opts.InFlight, r.opts.now(), wire)
	} else {
		n, err = r.store.RecoverInFlight(ctx, r.c.ID, r.opts.InFlight, r.opts.now())
	}
	if err != nil {
		return 0, err
	}
	if r.journal, err = openJournal(path); err != nil {
		r.logf("%v: after a crash, every claimed row will count as in flight", err)
	}
	return n, nil
}

// settle deals with what an earlier run left: rows in flight at a crash,
// and rows deferred for longer than the retry policy allows.
func (r *run) settle(ctx context.Context) error {
	// Watch from before the suppressions are applied below: what is added
	// after that, during the run, is skipped as rows are handed out.
	var err error
	if r.supp, err = newSuppressWatch(ctx, r.store, time.Now()); err != nil {
		return err
	}
	n, err := r.recoverInFlight(ctx)
	if err != nil {
		return err
	}
	r.sum.Recovered = n
	if n > 0 {
		r.logf("%d recipients were in flight when an earlier run stopped; policy %q: %s", n, r.opts.InFlight, inFlightMeaning(r.opts.InFlight))
	}
	// Addresses suppressed since the import (a bounce in another
	// campaign, or suppress add) are not sent to.
	if _, err := r.store.ApplySuppressions(ctx, r.c.ID, r.opts.now()); err != nil {
		return err
	}
	return r.expire(ctx)
}

// expire fails the rows deferred for longer than retry.max_age. It runs
// before every pass, so a run that stays for retries (--retry-wait) gives
// up on them when their time is over, as the next run would.
func (r *run) expire(ctx context.Context) error {
	if r.opts.Retry.MaxAge <= 0 {
		return nil
	}
	now := r.opts.now()
	n, err := r.store.Expire(ctx, r.c.ID, now.Add(-r.opts.Retry.MaxAge), now)
	r.sum.Expired += n
	return err
}

func inFlightMeaning(p ledger.InFlightPolicy) string {
	if p == ledger.Skip {
		return "marked skipped, not sent again"
	}
	return "sent again with the same Message-ID (a duplicate is possible)"
}

// passes sends what is due, then waits for deferred rows that fall due
// within the retry wait and sends those, until nothing more is due soon.
// An interrupt during a wait is an interrupt like any other.
func (r *run) passes(ctx, hard context.Context) error {
	deadline := r.opts.now().Add(r.opts.Retry.Wait)
	for {
		if err := r.pass(ctx, hard); err != nil {
			return err
		}
		next, ok, err := r.store.NextDue(ctx, r.c.ID)
		if err != nil || !ok {
			return err
		}
		if next = r.holdUntil(ctx, next); next.After(deadline) { // a used-up quota holds rows back
			// On a shared ledger what is due later may be a live worker's
			// rows, done any moment: look again until the deadline, so a
			// fleet that finishes together exits 0 together.
			if !r.shared() || !r.opts.now().Before(deadline) {
				return nil
			}
			next = deadline
		}
		if err := r.waitFor(ctx, next); err != nil {
			return fmt.Errorf("%w: %w", ErrInterrupted, context.Cause(ctx))
		}
		if err := r.expire(ctx); err != nil {
			return err
		}
	}
}

// retryBatch: a wait for deferred rows goes on this long past the first of
// them, so that rows deferred moments apart are retried in one pass instead
// of one pass (and one "waiting" line) each.
const retryBatch = time.Second

// waitFor sleeps until next (and retryBatch more), saying so when the wait
// is long enough to notice.
func (r *run) waitFor(ctx context.Context, next time.Time) error {
	d := next.Sub(r.opts.now())
	if d <= 0 {
		return ctx.Err()
	}
	if r.shared() {
		return r.waitShared(ctx, d)
	}
	d += retryBatch
	if d >= 2*retryBatch {
		r.logf("waiting %s for the next recipients to fall due (a retry, the send window or quota room)", d.Round(time.Second))
	}
	return sender.Sleep(ctx, d)
}

func (r *run) logf(format string, args ...any) {
	if r.opts.Reporter != nil {
		r.opts.Reporter.Logf(format, args...)
	}
}

// relays builds the sender group: the relays of Settings.Relays, or the
// one relay of Settings.SMTP.
func (r *run) relays() (*sender.Group, error) {
	list := r.opts.Settings.Relays
	if len(list) == 0 {
		list = []RelaySettings{{Settings: r.opts.Settings.SMTP}}
	}
	pools := make([]*sender.Pool, 0, len(list))
	for _, rs := range list {
		cfg := r.poolConfig(rs)
		p, err := sender.NewPool(cfg)
		if err != nil {
			return nil, fmt.Errorf("relay %s: %w", rs.Name, err)
		}
		pools = append(pools, p)
	}
	return sender.NewGroup(pools...), nil
}

func (r *run) poolConfig(rs RelaySettings) sender.Config {
	s := rs.Settings
	// Each relay of Settings.Relays carries its own password; only the
	// one relay of Settings.SMTP takes Options.Password.
	password := rs.Password
	if len(r.opts.Settings.Relays) == 0 {
		password = r.opts.Password
	}
	return sender.Config{Settings: s, Password: password, TLSConfig: r.opts.TLSConfig,
		Name: rs.Name, Weight: rs.Weight, Logf: r.logf, OnWire: r.onWire}
}

func (r *run) onWire(env *sender.Envelope) {
	r.fleet.wire()
	if r.journal != nil {
		r.journal.record(env.ID)
	}
}
