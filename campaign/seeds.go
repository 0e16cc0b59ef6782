package campaign

import (
	"cmp"
	"context"
	"errors"
	"strings"
	"time"

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
// ledger's seed log, apart from the recipients. A seed that is suppressed
// gets nothing; one that cannot be reached is logged and recorded. Neither
// stops the campaign.
func (r *run) sendSeeds(ctx context.Context, phase string) {
	if len(r.opts.Settings.Seeds) == 0 || ctx.Err() != nil {
		return
	}
	cfg := FirstRelay(r.opts.Settings, r.opts.Password, r.opts.TLSConfig)
	cfg.Connections, cfg.Rate = 1, 0
	date := r.opts.now()
	for _, s := range r.opts.Settings.Seeds {
		to, err := ParseAddress(s) // checked with the configuration
		if err != nil {
			continue
		}
		sup, ok, err := r.store.Suppressed(ctx, to.Key)
		switch {
		case err != nil:
			r.logf("seeds: no %s copy to %s: %v", phase, s, err)
			continue
		case ok:
			r.logf("seeds: no %s copy to %s: suppressed (%s)", phase, s, sup.Reason)
			continue
		}
		sd := r.sendSeed(ctx, cfg, to, phase, date)
		if err := r.store.RecordSeed(context.WithoutCancel(ctx), r.c.ID, sd); err != nil {
			r.logf("seeds: %v", err)
		}
	}
}

// seedMessage is the copy one seed gets: the campaign's message rendered
// for a row of the seed's own. Its address is in the email column and in
// the To field; every other column holds seed_fields' value for it, else
// the column's name in brackets ([first_name]). So no recipient's data
// reaches a seed (a placement service's mailbox), and no link in it names
// a recipient: a seed that follows the unsubscribe link, ours or the
// sender's own, unsubscribes nobody. Campaign 0 in its signed links, and
// no VERP token, do the same for mailblast's own link and bounces.
func (r *run) seedMessage(to Address, date time.Time) (Message, error) {
	fields := map[string]string{}
	given := map[string]string{}
	for k, v := range r.opts.Settings.SeedFields {
		given[strings.ToLower(k)] = v
	}
	for _, col := range r.list.Header() {
		v, ok := given[strings.ToLower(col)]
		if !ok {
			v = "[" + col + "]"
		}
		fields[col] = v
	}
	fields[r.list.EmailColumn()] = to.ASCII
	if c := r.opts.Settings.Message.AttachmentColumn; c != "" {
		fields[c] = "" // no row's file
	}
	c := ledger.Campaign{Name: r.opts.Name, CreatedAt: date}
	return messageFor(r.tmpl, c, ledger.Recipient{Email: to.ASCII, UTF8: to.UTF8}, fields, date)
}

// sendSeed sends one copy to seed and says how it went.
func (r *run) sendSeed(ctx context.Context, cfg sender.Config, to Address, phase string, date time.Time) ledger.SeedSend {
	sd := ledger.SeedSend{Address: to.ASCII, Phase: phase}
	m, err := r.seedMessage(to, date)
	if err == nil {
		sd.MessageID = m.ID
		env := &sender.Envelope{From: cmp.Or(r.opts.Settings.ReturnPath, m.From), To: to.ASCII, Data: m.Data, UTF8: to.UTF8}
		var res sender.Result
		if res, err = sendOne(ctx, cfg, env); err == nil {
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
		r.logf("seeds: the %s copy to %s was not sent: %s", phase, to.ASCII, sd.Text)
	}
	return sd
}
