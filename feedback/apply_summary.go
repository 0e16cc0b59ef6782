package feedback

import (
	"context"
)

// Summary counts what reading a mailbox (or a set of provider payloads)
// did. Bounces, delays, complaints and unsubscribes count matched events
// only (applied or recorded); Unmatched and Duplicates count the others.
type Summary struct {
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

// ApplyReport applies every Event of one parsed message and counts it in
// s. Each Event is recorded in its own transaction: an error (the ledger
// failing) leaves the earlier ones recorded, and reading the message again
// applies the rest, the earlier ones being Duplicates.
func (a *Applier) ApplyReport(ctx context.Context, rep Report, s *Summary) error {
	s.Messages++
	switch rep.Class {
	case ClassAutoReply:
		s.AutoReplies++
	case ClassOther:
		s.Other++
	case ClassARF:
		// A feedback report that is no complaint (not-spam, auth-failure)
		// has no Event: read, and nothing to do, like any other message.
		if len(rep.Events) == 0 {
			s.Other++
		}
	case ClassUnreadable:
		s.Unreadable++
	}
	return a.ApplyEvents(ctx, rep.Events, s)
}

// applyChunk is how many Events one transaction of ApplyEvents records:
// the commit's fsync is most of an Event's cost, and the ledger's one
// connection is held for a few milliseconds at most, so a send beside it
// barely waits.
const applyChunk = 256

// ApplyEvents applies events, applyChunk to a transaction, and counts
// each in s (not as a message).
func (a *Applier) ApplyEvents(ctx context.Context, events []Event, s *Summary) error {
	for len(events) > 0 {
		n := min(len(events), applyChunk)
		res, err := a.ApplyBatch(ctx, events[:n])
		if err != nil {
			return err
		}
		for i, r := range res {
			s.Count(events[i].Kind, r)
		}
		events = events[n:]
	}
	return nil
}

// Count adds one applied Event's result.
func (s *Summary) Count(k Kind, res Result) {
	switch res {
	case Unmatched:
		s.Unmatched++
		return
	case Duplicate:
		s.Duplicates++
		return
	}
	switch k {
	case HardBounce:
		s.HardBounces++
	case SoftBounce:
		s.SoftBounces++
	case Delayed:
		s.Delayed++
	case Complaint:
		s.Complaints++
	case Unsubscribe:
		s.Unsubscribes++
	}
}

// Importer applies the reports of many messages, applyChunk Events to a
// transaction, and sums them up. A report's Events are recorded at the
// latest by Flush; an import cut short before it is taken up by the next
// (what was recorded is a Duplicate then).
type Importer struct {
	app     *Applier
	Summary Summary
	pending []Event
}

// NewImporter starts an import.
func (a *Applier) NewImporter() *Importer { return &Importer{app: a} }

// Report counts one parsed message and queues its Events.
func (im *Importer) Report(ctx context.Context, rep Report) error {
	im.Summary.Messages++
	switch rep.Class {
	case ClassAutoReply:
		im.Summary.AutoReplies++
	case ClassOther:
		im.Summary.Other++
	case ClassUnreadable:
		im.Summary.Unreadable++
	}
	return im.Events(ctx, rep.Events)
}

// Events queues events (a provider payload's: the caller counts it).
func (im *Importer) Events(ctx context.Context, events []Event) error {
	im.pending = append(im.pending, events...)
	if len(im.pending) < applyChunk {
		return nil
	}
	return im.Flush(ctx)
}

// Flush records every queued Event.
func (im *Importer) Flush(ctx context.Context) error {
	err := im.app.ApplyEvents(ctx, im.pending, &im.Summary)
	im.pending = im.pending[:0]
	return err
}
