package campaign

import (
	"cmp"
	"context"
	"errors"

	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/sender"
)

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
