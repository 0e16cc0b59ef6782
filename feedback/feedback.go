// Package feedback turns what comes back after the relay's 250 into
// recipient outcomes: late bounces (RFC 3464 DSNs, RFC 6533), complaints
// (RFC 5965 ARF), one-click unsubscribes (RFC 8058) and the relays' own
// event webhooks (Amazon SES, SendGrid, Mailgun).
//
// Every source produces Events; an Applier matches each Event to one
// recipient it can prove mailblast mailed (a signed token, or a
// Message-ID mailblast issued and stored) and records it in the ledger
// and the suppression list. An Event that matches nothing changes
// nothing: anyone can mail the bounce address or post to a webhook.
package feedback

import (
	"time"
)

// Kind is what an Event says happened to a delivered message.
type Kind string

// The kinds of feedback.
const (
	HardBounce  Kind = "hard_bounce" // failed, permanent, the address is bad
	SoftBounce  Kind = "soft_bounce" // failed, but not proof the address is bad
	Delayed     Kind = "delayed"     // still trying: recorded, nothing changes
	Complaint   Kind = "complaint"   // marked as spam (ARF abuse, fraud, virus)
	Unsubscribe Kind = "unsubscribe" // RFC 8058 one-click, or a provider's
)

// Event is one piece of feedback about one recipient, before matching.
type Event struct {
	Kind   Kind
	Source string // "dsn", "arf", "one-click", "ses", "sendgrid", "mailgun"
	// Target is set only by code that has itself verified a signed token
	// naming the row (listen's one-click handler); Apply trusts it.
	Target *Target
	// Token is the VERP token of the address the report was delivered to,
	// EnvID the ENVID (RFC 3461) it quotes; Apply verifies each, in that
	// order: a relay may set an ENVID of its own, and the address the
	// bounce actually reached is the better witness.
	Token, EnvID string
	// MessageID is a Message-ID the report quotes, without angle brackets.
	MessageID string
	// Address is the recipient the report names, "" when redacted. It is
	// checked against the match, never matched on alone.
	Address    string
	Status     string // enhanced status code, e.g. "5.1.1"
	Diagnostic string
	At         time.Time
	// Key identifies the event (a report's Message-ID and block, a
	// provider's event id): an Event whose Key was applied before changes
	// nothing, so importing a mailbox twice is harmless.
	Key string
}

// Target is one row of one campaign.
type Target struct {
	CampaignID int64
	Row        int
}

// Class is what kind of message a mailbox holds.
type Class string

// The classes Parse tells apart. Only DSN and ARF carry Events.
const (
	ClassDSN        Class = "dsn"
	ClassARF        Class = "arf"
	ClassAutoReply  Class = "auto-reply" // RFC 3834 Auto-Submitted, out-of-office
	ClassOther      Class = "other"      // a person's reply, unrelated mail
	ClassUnreadable Class = "unreadable"
)

// Report is one parsed message.
type Report struct {
	Class  Class
	Events []Event
	// Truncated: the message was longer than MaxMessageSize; its first
	// MaxMessageSize bytes were parsed. SkippedBlocks counts the
	// per-recipient blocks past MaxRecipientBlocks, ignored.
	Truncated     bool
	SkippedBlocks int
}

// Result is what applying one Event did.
type Result string

// The results of Apply.
const (
	Applied   Result = "applied"   // the recipient's state or suppression changed
	Recorded  Result = "recorded"  // kept in its history only (delayed, a soft bounce under the limit)
	Duplicate Result = "duplicate" // this Key was applied before
	Unmatched Result = "unmatched" // no recipient mailblast can prove it mailed
)
