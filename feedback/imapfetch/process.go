package imapfetch

import (
	"bytes"
	"context"
	"io"

	"github.com/mailblast/mailblast/feedback"
)

// Counts is what a pass read, counted as `feedback import` counts.
type Counts = feedback.Summary

// Processor is the Handler of a pass: feedback.Parse, then Apply on each
// Event, counting.
type Processor struct {
	Parse func(io.Reader) (feedback.Report, error)
	Apply func(context.Context, feedback.Event) (feedback.Result, error)
	Counts
}

// Handle counts m and applies its events. A message that does not parse
// is unreadable and left alone; an error of Apply (the ledger's) ends the
// pass.
func (p *Processor) Handle(ctx context.Context, m Message) (bool, error) {
	p.Messages++
	if m.Raw == nil {
		p.Unreadable++
		return false, nil
	}
	rep, err := p.Parse(bytes.NewReader(m.Raw))
	if err != nil {
		p.Unreadable++
		return false, nil
	}
	switch rep.Class {
	case feedback.ClassAutoReply:
		p.AutoReplies++
	case feedback.ClassOther:
		p.Other++
	case feedback.ClassDSN, feedback.ClassARF:
		return p.apply(ctx, rep.Events)
	default:
		p.Unreadable++
	}
	return false, nil
}

// apply applies a report's events; the message was acted on if any of
// them found its recipient, now or before.
func (p *Processor) apply(ctx context.Context, events []feedback.Event) (bool, error) {
	if len(events) == 0 {
		p.Unmatched++ // a report naming nobody mailblast can find
		return false, nil
	}
	acted := false
	for _, ev := range events {
		res, err := p.Apply(ctx, ev)
		if err != nil {
			return false, err
		}
		p.Count(ev.Kind, res)
		if res == feedback.Unmatched {
			continue
		}
		acted = true
	}
	return acted, nil
}
