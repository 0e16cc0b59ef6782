package imapfetch

import (
	"bytes"
	"context"
	"io"

	"github.com/mailblast/mailblast/feedback"
)

// Counts is what a pass read, as `feedback import` counts it: messages by
// class, and the events of reports by what applying them did. Kept apart
// from Summary so that import and fetch can share it.
type Counts struct {
	Messages     int `json:"messages"`
	HardBounces  int `json:"hard_bounces"`
	SoftBounces  int `json:"soft_bounces"`
	Delayed      int `json:"delayed"`
	Complaints   int `json:"complaints"`
	Unsubscribes int `json:"unsubscribes"`
	AutoReplies  int `json:"auto_replies"`
	Other        int `json:"other"`
	Unmatched    int `json:"unmatched"`
	Duplicates   int `json:"duplicates"`
	Unreadable   int `json:"unreadable"`
}

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
		switch res {
		case feedback.Unmatched:
			p.Unmatched++
			continue
		case feedback.Duplicate:
			p.Duplicates++
		default:
			p.countKind(ev.Kind)
		}
		acted = true
	}
	return acted, nil
}

func (p *Processor) countKind(k feedback.Kind) {
	switch k {
	case feedback.HardBounce:
		p.HardBounces++
	case feedback.SoftBounce:
		p.SoftBounces++
	case feedback.Delayed:
		p.Delayed++
	case feedback.Complaint:
		p.Complaints++
	case feedback.Unsubscribe:
		p.Unsubscribes++
	}
}
