package ledger

import (
	"context"
	"errors"
	"time"
)

// State is where one recipient stands.
type State string

// The states a recipient moves through. Pending and Deferred are waiting;
// InFlight means a message may be on the wire; the rest are final.
// Bounced, Complained and Unsubscribed are what feedback after the relay's
// 250 made of a sent row (RecordFeedback): still final, nothing is resent.
const (
	Pending      State = "pending"
	InFlight     State = "inflight"
	Sent         State = "sent"
	Deferred     State = "deferred"
	Failed       State = "failed"
	Skipped      State = "skipped"
	Bounced      State = "bounced"
	Complained   State = "complained"
	Unsubscribed State = "unsubscribed"
)

// Final reports whether no further attempt will be made.
func (s State) Final() bool {
	return s == Sent || s == Failed || s == Skipped || s.Delivered()
}

// Delivered reports whether the relay took the row's message: sent, and
// anything feedback made of it since.
func (s State) Delivered() bool {
	return s == Sent || s == Bounced || s == Complained || s == Unsubscribed
}

// ErrNotFound is returned for a campaign the ledger does not know.
var ErrNotFound = errors.New("campaign not found")

// ErrNoRow is returned for a row the campaign does not have.
var ErrNoRow = errors.New("no such row")

// Campaign is what the ledger remembers of a campaign so resume needs no
// arguments. Settings is an opaque JSON document that never holds secrets.
type Campaign struct {
	ID             int64
	Name           string
	ListPath       string
	ListDigest     string
	TemplatePath   string
	TemplateDigest string
	Settings       []byte
	Imported       bool
	CreatedAt      time.Time
	// Abandoned: `campaign abandon` ended it; resume passes it by.
	Abandoned bool
}

// Recipient is one row of the list as the ledger sees it.
type Recipient struct {
	Row int
	// Email is the address as RCPT TO takes it: an internationalised domain
	// is in its ASCII (punycode) form.
	Email string
	// Key is the address normalised by the caller, compared for duplicates
	// within a campaign and against the suppression list. "" takes the row
	// out of both checks (an invalid address has none).
	Key string
	// UTF8 marks a local part that is not ASCII: the relay must offer
	// SMTPUTF8 to take it.
	UTF8        bool
	Offset      int64
	State       State
	Attempts    int
	NextAttempt time.Time
	FirstTry    time.Time
	Code        int
	Enhanced    string
	Text        string
	MessageID   string
	Recovered   int // times this row was found in flight after a crash
	UpdatedAt   time.Time
}

// Claim marks in flight, before their messages go out, the rows from
// First to Last that Due returned when asked at DueAt. It is recorded as
// the range alone, one small row for a whole chunk, and the rows are not
// touched: claiming costs the send path almost nothing. While the claim
// stands, its rows still waiting as they were (fresh, or pending or
// deferred and due at DueAt) are the ones in flight. Apply keeps every
// pending or deferred outcome of a claimed row, a release included, after
// DueAt by itself, so a row with an outcome is never counted in flight;
// callers give the NextAttempt they mean (zero: as soon as possible).
type Claim struct {
	First, Last int
	DueAt       time.Time
}

// Outcome is the result of one attempt, or the release of a claimed row
// that was never attempted (State Pending, Attempted false).
type Outcome struct {
	Row         int
	State       State
	Attempted   bool
	Attempt     int    // the attempt's number, when Attempted
	MessageID   string // the message's, when Attempted
	Code        int
	Enhanced    string
	Text        string
	NextAttempt time.Time
	// Relay names the relay that carried the attempt ("" when none did).
	// Callers pass the relay's one name string, not a copy per message.
	// Throttles are the throttling replies that relay gave since its last
	// outcome, counted towards it (ledger/sqlite_relays.go).
	Relay     string
	Throttles int
}

// Batch is one group commit.
type Batch struct {
	Claims   []Claim
	Outcomes []Outcome
	// Settled ends a pass: its claims are forgotten, except one with a row
	// that never got an outcome, which RecoverInFlight settles at the next
	// run.
	Settled bool
}

// Attempt is one recorded try at a recipient.
type Attempt struct {
	Row      int
	At       time.Time
	State    State
	Code     int
	Enhanced string
	Text     string
	Relay    string // "" when not recorded (a first-try send, an older ledger)
}

// Counts is the campaign's standing.
type Counts struct {
	Total    int `json:"total"`
	Pending  int `json:"pending"`
	InFlight int `json:"inflight"`
	Sent     int `json:"sent"`
	Deferred int `json:"deferred"`
	Failed   int `json:"failed"`
	Skipped  int `json:"skipped"`
	// Sent counts the rows still standing as delivered; the three below
	// were delivered and came back (feedback).
	Bounced      int `json:"bounced"`
	Complained   int `json:"complained"`
	Unsubscribed int `json:"unsubscribed"`
	Recovered    int `json:"recovered_in_flight"`
}

// Field is the count of state s (a fresh row, stored as "new", counts as
// Pending); nil for a state mailblast never writes. Both backends sum
// their rows through it.
func (c *Counts) Field(s State) *int {
	switch s {
	case Pending, fresh:
		return &c.Pending
	case InFlight:
		return &c.InFlight
	case Sent:
		return &c.Sent
	case Deferred:
		return &c.Deferred
	case Failed:
		return &c.Failed
	case Skipped:
		return &c.Skipped
	case Bounced:
		return &c.Bounced
	case Complained:
		return &c.Complained
	case Unsubscribed:
		return &c.Unsubscribed
	}
	return nil
}

// InFlightPolicy says what to do with rows a crash left in flight.
type InFlightPolicy string

// Resend risks one duplicate; Skip risks one recipient never receiving it.
const (
	Resend InFlightPolicy = "resend"
	Skip   InFlightPolicy = "skip"
)

// Importer takes list rows, in row order, after the campaign's LastRow.
// Every few thousand rows (and at Flush) they are committed, settled
// set-based: a row whose Key an earlier row has is skipped as "duplicate
// of row N", then a row whose Key is on the suppression list as
// "suppressed: REASON". Committed rows can be sent while the import goes
// on; Flush names the rows committed skipped since the last Flush, so a
// caller holding the rows knows which not to send. Commit marks the
// campaign imported; Rollback drops what was added since the last commit.
// An import that stopped half-way is taken up from LastRow + 1 by a new
// Importer.
type Importer interface {
	Add(r Recipient) error
	Flush() (skipped []int, err error)
	Commit() error
	Rollback() error
}

// Suppression is one address on the suppression list, which every campaign
// in the state directory shares: a row whose Key is on it is never sent.
type Suppression struct {
	Address   string    `json:"address"` // a Recipient.Key
	Reason    string    `json:"reason"`
	Source    string    `json:"source"` // "manual", "import", "bounce", "complaint", "unsubscribe"
	CreatedAt time.Time `json:"created_at"`
}

// Sources of suppressions.
const (
	SourceManual = "manual"
	SourceImport = "import"
	SourceBounce = "bounce"
	// Feedback after the 250 (RecordFeedback).
	SourceComplaint   = "complaint"
	SourceUnsubscribe = "unsubscribe"
)

// Store is the ledger as mailblast uses it.
type Store interface {
	CreateCampaign(ctx context.Context, c *Campaign) error
	Campaign(ctx context.Context, name string) (Campaign, error)
	Campaigns(ctx context.Context) ([]Campaign, error)
	Import(ctx context.Context, campaignID int64) (Importer, error)
	// LastRow is the highest row imported so far, 0 if none.
	LastRow(ctx context.Context, campaignID int64) (int, error)
	Due(ctx context.Context, campaignID int64, now time.Time, afterRow, limit int) ([]Recipient, error)
	NextDue(ctx context.Context, campaignID int64) (time.Time, bool, error)
	Apply(ctx context.Context, campaignID int64, b Batch, at time.Time) error
	RecoverInFlight(ctx context.Context, campaignID int64, p InFlightPolicy, at time.Time) (int, error)
	// RecoverOnWire is RecoverInFlight told which rows a crashed run handed
	// to a connection; claimed rows not among them just wait again.
	RecoverOnWire(ctx context.Context, campaignID int64, p InFlightPolicy, at time.Time, wire map[int]bool) (int, error)
	Expire(ctx context.Context, campaignID int64, before time.Time, at time.Time) (int, error)
	// SetSettings replaces the campaign's stored settings (a send window
	// given to resume is kept from then on).
	SetSettings(ctx context.Context, campaignID int64, settings []byte) error
	// Wake makes pending rows held for a later time due at at
	// (ledger/sqlite_wake.go); deferred rows keep their retry time.
	Wake(ctx context.Context, campaignID int64, at time.Time) (int, error)
	Counts(ctx context.Context, campaignID int64) (Counts, error)
	Progress(ctx context.Context, campaignID int64) (total, waiting int, err error)
	Recipients(ctx context.Context, campaignID int64, state State, fn func(Recipient) error) error
	Attempts(ctx context.Context, campaignID int64, row int) ([]Attempt, error)
	// Recipient is one row; ErrNoRow when the campaign has no such row.
	Recipient(ctx context.Context, campaignID int64, row int) (Recipient, error)

	// AddSuppressions adds addresses not on the list yet (an address already
	// there keeps its first reason) and returns how many were new.
	AddSuppressions(ctx context.Context, list []Suppression) (int, error)
	// RemoveSuppressions returns how many of addresses were on the list.
	RemoveSuppressions(ctx context.Context, addresses []string) (int, error)
	// Suppressions calls fn for every suppressed address, in address order.
	Suppressions(ctx context.Context, fn func(Suppression) error) error
	// Suppressed looks one address up.
	Suppressed(ctx context.Context, address string) (Suppression, bool, error)
	// ApplySuppressions skips the campaign's waiting rows (pending or
	// deferred) whose address is suppressed, and returns how many.
	ApplySuppressions(ctx context.Context, campaignID int64, at time.Time) (int, error)

	// SuppressionGen changes when addresses are added to the suppression
	// list; SuppressedSince lists those added at or after since, address to
	// reason. A running campaign uses them to hear of suppressions made
	// while it runs.
	SuppressionGen(ctx context.Context) (int64, error)
	SuppressedSince(ctx context.Context, since time.Time) (map[string]string, error)

	// RecordRun and LastRun keep how each send or resume ended.
	RecordRun(ctx context.Context, campaignID int64, r Run) error
	LastRun(ctx context.Context, campaignID int64) (Run, bool, error)
	// Abandon skips every waiting row with reason and ends the campaign,
	// keeping its records; RemoveCampaign deletes them.
	Abandon(ctx context.Context, campaignID int64, reason string, at time.Time) (int, error)
	RemoveCampaign(ctx context.Context, campaignID int64) error
	// RecordFeedback records one matched report after the 250 in one
	// transaction (ledger/sqlite_feedback.go); SoftBounces counts an
	// address's soft bounces since a time.
	RecordFeedback(ctx context.Context, f Feedback) (FeedbackResult, error)
	RecordFeedbacks(ctx context.Context, list []Feedback) ([]FeedbackResult, error)
	SoftBounces(ctx context.Context, address string, since time.Time) (int, error)
	// SentMessage finds, in any campaign, row sent with messageID.
	SentMessage(ctx context.Context, row int, messageID string) (campaignID int64, r Recipient, ok bool, err error)
	// Secret is the ledger's random secret of name, made on first use.
	Secret(ctx context.Context, name string) ([]byte, error)
	// Stats sums the campaign up for a report (ledger/sqlite_stats.go).
	Stats(ctx context.Context, campaignID int64) (Stats, error)
	// Relays is what each relay carried (ledger/sqlite_relays.go).
	Relays(ctx context.Context, campaignID int64) ([]RelayStats, error)
	// RecordSeed and SeedSends keep the copies sent to seed addresses,
	// apart from the recipients (ledger/sqlite_seeds.go).
	RecordSeed(ctx context.Context, campaignID int64, s SeedSend) error
	SeedSends(ctx context.Context, campaignID int64) ([]SeedSend, error)
	// SentSince counts the messages relay accepted (outcomes Attempted,
	// State Sent, with that Relay) in every campaign, by the minute of the
	// Apply that recorded them (its at): those of since's minute and later.
	// SentMinutes is the same per minute, oldest first, minutes without any
	// left out. They count a relay's quota (ledger/sqlite_quota.go).
	SentSince(ctx context.Context, relay string, since time.Time) (int, error)
	SentMinutes(ctx context.Context, relay string, since time.Time) ([]SentMinute, error)
	Close() error
}

// Millis is how both backends store a time: milliseconds since 1970, 0
// for none (the zero time).
func Millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// FromMillis reads a time Millis stored.
func FromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
