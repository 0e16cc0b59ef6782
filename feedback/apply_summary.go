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
	case ClassUnreadable:
		s.Unreadable++
	}
	return a.ApplyEvents(ctx, rep.Events, s)
}

// ApplyEvents applies events and counts each in s (not as a message).
func (a *Applier) ApplyEvents(ctx context.Context, events []Event, s *Summary) error {
	for _, ev := range events {
		res, err := a.Apply(ctx, ev)
		if err != nil {
			return err
		}
		s.Count(ev.Kind, res)
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
