package campaign

import (
	"strconv"
	"strings"

	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/sender"
)

// pending is an outcome together with what the reporter needs to know.
type pending struct {
	out   ledger.Outcome
	email string
	err   *sender.Error
}

func outcomeFor(j *job, o ledger.Outcome, err *sender.Error) pending {
	return pending{out: o, email: j.rec.Email, err: err}
}

// released puts a claimed row back as it was: it was never attempted.
// (The ledger keeps it out of its claim's in-flight set.)
func (r *run) released(j *job) pending {
	o := ledger.Outcome{Row: j.rec.Row, State: ledger.Pending, Text: j.rec.Text, NextAttempt: r.quota.heldUntil()}
	if j.rec.State == ledger.Deferred {
		o.State, o.NextAttempt = ledger.Deferred, laterOf(j.rec.NextAttempt, o.NextAttempt)
		o.Code, o.Enhanced = j.rec.Code, j.rec.Enhanced
	}
	return outcomeFor(j, o, nil)
}

// outcome maps the pool's result to the ledger: the decision between
// sent, failed and deferred is the *sender.Error's, made where the reply
// was read; here it only picks the next attempt's time.
func (r *run) outcome(res sender.Result) pending {
	j := res.Env.Tag.(*job)
	if res.Released {
		return r.released(j)
	}
	r.fleet.settled(res.Err == nil)
	p := r.attempted(j, res)
	r.carried(res, &p.out)
	return p
}

// attempted maps an attempt's result to its outcome.
func (r *run) attempted(j *job, res sender.Result) pending {
	e := res.Err
	if e == nil {
		enh, text := splitEnhanced(res.Env.Reply)
		return outcomeFor(j, ledger.Outcome{Row: j.rec.Row, State: ledger.Sent, Attempted: true, Code: 250,
			Enhanced: enh, Text: text, Attempt: j.rec.Attempts + 1, MessageID: j.mid}, nil)
	}
	o := ledger.Outcome{Row: j.rec.Row, State: ledger.Failed, Attempted: true, Code: e.Code, Enhanced: e.Enhanced,
		Text: e.Error(), Attempt: j.rec.Attempts + 1, MessageID: j.mid}
	switch {
	case e.NotAttempted:
		o.State, o.Attempted, o.Text = ledger.Skipped, false, "not sent: "+e.Message
	case !e.Permanent:
		o.State = ledger.Deferred
		o.NextAttempt = r.opts.Retry.next(r.opts.now(), j.rec.Attempts+1)
	}
	return outcomeFor(j, o, e)
}

// RelayReporter is a Reporter that also hears which relay carried each
// attempt, the throttling replies that relay gave since its last one, and
// the connections it may use now (the metrics file). It is called from
// the senders' goroutines, before the outcome is committed: it must be
// safe for concurrent use.
type RelayReporter interface {
	RelayOutcome(relay string, state ledger.State, throttles, conns int)
}

// carried names the relay on the outcome and takes the relay's throttling
// replies so far with it, so the ledger counts each reply once, in the
// same commit as the outcomes. res.Relay is the pool's one name string:
// no copy per message.
func (r *run) carried(res sender.Result, o *ledger.Outcome) {
	if res.Relay == "" {
		return
	}
	o.Relay = res.Relay
	var conns int
	o.Throttles, conns = r.pool.TakeThrottles(res.Relay)
	if rr, ok := r.opts.Reporter.(RelayReporter); ok {
		rr.RelayOutcome(res.Relay, o.State, o.Throttles, conns)
	}
}

// maxSentReply bounds the reply kept for a sent row: its queue ID is near
// the start, and a relay's chatter must not grow the ledger.
const maxSentReply = 200

// splitEnhanced splits the relay's reply to an accepted message into its
// RFC 3463 enhanced code, if it starts with one, and the text (which
// usually carries the relay's queue ID: "Ok: queued as 4jfJ...").
func splitEnhanced(reply string) (string, string) {
	reply = strings.TrimSpace(reply)
	if len(reply) > maxSentReply {
		reply = strings.ToValidUTF8(reply[:maxSentReply], "")
	}
	head, rest, _ := strings.Cut(reply, " ")
	parts := strings.Split(head, ".")
	if len(parts) != 3 {
		return "", reply
	}
	for _, p := range parts {
		if _, err := strconv.Atoi(p); err != nil {
			return "", reply
		}
	}
	return head, rest
}
