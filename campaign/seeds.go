package campaign

import (
	"cmp"
	"context"
	"errors"

	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/sender"
)

// seeded runs passes with the seeds' copies around it: the start copies
// go out, on a connection of their own, once the run's first message is
// accepted (a run that sends nothing, a cron resume with nothing due or
// its window shut, sends no copies), the end copies after the last pass
// of a run that sent.
func (r *run) seeded(ctx context.Context, passes func() error) error {
	if len(r.opts.Settings.Seeds) == 0 {
		return passes()
	}
	r.firstSent = make(chan struct{})
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-r.firstSent:
			r.sendSeeds(ctx, ledger.SeedStart)
		case <-stop: // the passes may have sent and ended before this woke
			select {
			case <-r.firstSent:
				r.sendSeeds(ctx, ledger.SeedStart)
			default:
			}
		case <-ctx.Done():
		}
	}()
	err := passes()
	close(stop)
	<-done
	if err == nil && r.sum.SentNow > 0 {
		r.sendSeeds(ctx, ledger.SeedEnd)
	}
	return err
}

// noteSent is called by the committer for each message accepted.
func (r *run) noteSent() {
	if r.firstSent != nil {
		r.firstSentOnce.Do(func() { close(r.firstSent) })
	}
}

// sendSeeds sends each seed address a copy of the campaign's message at
// phase (the start or the end of a run) and records each copy in the
// ledger's seed log, apart from the recipients.
//
// The copy is the first sendable row's message exactly as a test send
// builds it: campaign 0 in its signed links and VERP-free, so a seed
// mailbox that follows the unsubscribe link, or bounces, changes no
// recipient. A seed that cannot be reached is logged and recorded; it
// never stops the campaign.
func (r *run) sendSeeds(ctx context.Context, phase string) {
	seeds := r.opts.Settings.Seeds
	if len(seeds) == 0 || ctx.Err() != nil {
		return
	}
	msg, err := testMessage(ctx, TestSendOptions{Settings: r.opts.Settings, Name: r.opts.Name})
	if err != nil {
		r.logf("seeds: no %s copy: %v", phase, err)
		return
	}
	cfg := FirstRelay(r.opts.Settings, r.opts.Password, r.opts.TLSConfig)
	cfg.Connections, cfg.Rate = 1, 0
	from := cmp.Or(r.opts.Settings.ReturnPath, msg.Message.From)
	for _, s := range seeds {
		sd := r.sendSeed(ctx, cfg, from, msg.Message, s, phase)
		if err := r.store.RecordSeed(context.WithoutCancel(ctx), r.c.ID, sd); err != nil {
			r.logf("seeds: %v", err)
		}
	}
}

// sendSeed sends one copy to seed and says how it went.
func (r *run) sendSeed(ctx context.Context, cfg sender.Config, from string, m Message, seed, phase string) ledger.SeedSend {
	sd := ledger.SeedSend{Address: seed, Phase: phase, MessageID: m.ID}
	to, err := ParseAddress(seed)
	if err == nil {
		env := &sender.Envelope{From: from, To: to.ASCII, Data: m.Data, UTF8: to.UTF8}
		var res sender.Result
		res, err = sendOne(ctx, cfg, env)
		if err == nil {
			sd.Code, sd.Text = 250, res.Env.Reply
		}
	}
	sd.At = r.opts.now()
	var se *sender.Error
	if errors.As(err, &se) {
		sd.Code, sd.Text = se.Code, se.Message
	} else if err != nil {
		sd.Text = err.Error()
	}
	if err != nil {
		r.logf("seeds: the %s copy to %s was not sent: %s", sd.Phase, seed, sd.Text)
	}
	return sd
}
