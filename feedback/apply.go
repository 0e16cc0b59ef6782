package feedback

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mailblast/mailblast/ledger"
)

// Options tune an Applier.
type Options struct {
	// SoftBounceLimit soft bounces of one address within SoftBounceWindow
	// suppress it (defaults 3 and 30 days; a limit below 0 never does).
	SoftBounceLimit  int
	SoftBounceWindow time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Normalize gives an address's suppression key, as the import makes
	// it (campaign.ParseAddress's Key), or "" for no address. nil compares
	// addresses in lower case.
	Normalize func(address string) string
}

// Applier matches Events to recipients and records them. It holds nothing
// that changes: the ledger serialises the writes, so one Applier serves
// any number of goroutines (listen, fetch) beside a running send.
type Applier struct {
	store ledger.Store
	key   []byte
	opts  Options
}

// verpSecret names the ledger's secret that signs VERP and ENVID tokens.
const verpSecret = "verp"

// VERPKey is the ledger's key for VERP and ENVID tokens, made on first
// use: send signs with it, the Applier verifies with it.
func VERPKey(ctx context.Context, store ledger.Store) ([]byte, error) {
	return store.Secret(ctx, verpSecret)
}

// NewApplier reads the ledger's VERP key (creating it on first use).
func NewApplier(ctx context.Context, store ledger.Store, opts Options) (*Applier, error) {
	key, err := VERPKey(ctx, store)
	if err != nil {
		return nil, fmt.Errorf("feedback: %w", err)
	}
	if opts.SoftBounceLimit == 0 {
		opts.SoftBounceLimit = 3
	}
	if opts.SoftBounceWindow <= 0 {
		opts.SoftBounceWindow = 30 * 24 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Normalize == nil {
		opts.Normalize = strings.ToLower
	}
	return &Applier{store: store, key: key, opts: opts}, nil
}

// Apply matches one Event and records it; safe for concurrent use. An
// Event about a row that was never delivered is Unmatched and changes
// nothing: it may be the bounce of a message whose 250 is not recorded yet,
// and a later import or fetch takes it again.
func (a *Applier) Apply(ctx context.Context, ev Event) (Result, error) {
	t, ok, err := a.match(ctx, ev)
	if err != nil || !ok {
		return Unmatched, err
	}
	f, err := a.decide(ev, t)
	if err != nil {
		return "", err
	}
	res, err := a.store.RecordFeedback(ctx, f)
	if errors.Is(err, ledger.ErrIllegalTransition) || errors.Is(err, ledger.ErrNoRow) {
		return Unmatched, nil
	}
	if err != nil {
		return "", fmt.Errorf("feedback: %w", err)
	}
	return result(res), nil
}

func result(res ledger.FeedbackResult) Result {
	switch {
	case res.Refused != nil:
		return Unmatched
	case res.Duplicate:
		return Duplicate
	case res.Moved || res.Suppressed:
		return Applied
	}
	return Recorded
}

// ApplyBatch is Apply for many Events, recorded in one transaction: one
// commit instead of one per Event, for a mailbox read at once. Each Event
// is matched and decided as Apply would; an error records none of them.
func (a *Applier) ApplyBatch(ctx context.Context, events []Event) ([]Result, error) {
	out := make([]Result, len(events))
	var list []ledger.Feedback
	var at []int // out's index of each of list
	for i, ev := range events {
		t, ok, err := a.match(ctx, ev)
		if err != nil {
			return nil, err
		}
		if !ok {
			out[i] = Unmatched
			continue
		}
		f, err := a.decide(ev, t)
		if err != nil {
			return nil, err
		}
		list, at = append(list, f), append(at, i)
	}
	if len(list) == 0 {
		return out, nil
	}
	res, err := a.store.RecordFeedbacks(ctx, list)
	if err != nil {
		return nil, fmt.Errorf("feedback: %w", err)
	}
	for k, r := range res {
		out[at[k]] = result(r)
	}
	return out, nil
}

// match finds the row ev is about: a Target the caller verified, then a
// VERP/ENVID token, then a Message-ID mailblast issued and stored.
func (a *Applier) match(ctx context.Context, ev Event) (Target, bool, error) {
	if ev.Target != nil {
		return *ev.Target, true, nil
	}
	for _, tok := range []string{ev.Token, ev.EnvID} {
		// The token is signed: the address a forwarded message bounced
		// from may differ, and that is no reason to doubt it.
		if t, ok := VerifyToken(a.key, PurposeVERP, tok); ok && tok != "" {
			return t, true, nil
		}
	}
	return a.matchMessageID(ctx, ev)
}

// matchMessageID takes ROW from a Message-ID of mailblast's form
// (HEX24.ROW@domain) and asks the ledger which campaign sent exactly that
// Message-ID as that row. A Message-ID is visible to its recipient, who
// could write a report naming someone else: when the report names an
// address, it must be the row's.
func (a *Applier) matchMessageID(ctx context.Context, ev Event) (Target, bool, error) {
	id := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(ev.MessageID), "<"), ">")
	row, ok := messageIDRow(id)
	if !ok {
		return Target{}, false, nil
	}
	cid, rec, ok, err := a.store.SentMessage(ctx, row, id)
	if err != nil || !ok {
		return Target{}, false, err
	}
	if ev.Address != "" && (rec.Key == "" || a.opts.Normalize(ev.Address) != rec.Key) {
		return Target{}, false, nil
	}
	return Target{CampaignID: cid, Row: row}, true, nil
}

// messageIDRow is ROW of HEX24.ROW@domain.
func messageIDRow(id string) (int, bool) {
	local, _, ok := strings.Cut(id, "@")
	if !ok {
		return 0, false
	}
	hexPart, rowPart, ok := strings.Cut(local, ".")
	if !ok || len(hexPart) != 24 {
		return 0, false
	}
	row, err := strconv.Atoi(rowPart)
	if err != nil || row < 1 || strconv.Itoa(row) != rowPart {
		return 0, false
	}
	return row, true
}

// decide turns ev into what the ledger records, by the RFC 3463 rules the
// send-time suppression uses (ledger.MailboxGone, ledger.NotTheRecipient).
func (a *Applier) decide(ev Event, t Target) (ledger.Feedback, error) {
	// A report's own date is the sender's word: never later than now.
	at, now := ev.At, a.opts.Now()
	if at.IsZero() || at.After(now) {
		at = now
	}
	f := ledger.Feedback{Key: eventKey(ev), At: at, Kind: string(ev.Kind), Source: ev.Source,
		CampaignID: t.CampaignID, Row: t.Row, Code: replyCode(ev.Diagnostic), Status: ev.Status, Diagnostic: ev.Diagnostic}
	switch ev.Kind {
	case HardBounce, SoftBounce:
		f.State = ledger.Bounced
		switch {
		case ledger.NotTheRecipient(ev.Status): // a policy block or the sender's fault
		case ev.Kind == HardBounce && ledger.MailboxGone(ev.Status):
			f.Suppress = ledger.SourceBounce
		default:
			f.Soft, f.SoftLimit, f.SoftSince = true, a.opts.SoftBounceLimit, at.Add(-a.opts.SoftBounceWindow)
		}
	case Delayed:
	case Complaint:
		f.State, f.Suppress = ledger.Complained, ledger.SourceComplaint
	case Unsubscribe:
		f.State, f.Suppress = ledger.Unsubscribed, ledger.SourceUnsubscribe
	default:
		return f, fmt.Errorf("feedback: unknown kind %q", ev.Kind)
	}
	f.Reason = reason(ev)
	return f, nil
}

// reason is what the suppression list says of the address.
func reason(ev Event) string {
	s := strings.ReplaceAll(string(ev.Kind), "_", " ") + " (" + ev.Source + ")"
	if ev.Status != "" {
		s += " " + ev.Status
	}
	if ev.Diagnostic != "" {
		s += ": " + ev.Diagnostic
	}
	return s
}

// replyCode is the SMTP reply code of a diagnostic such as
// "smtp; 550 5.1.1 <a@b>: user unknown", 0 when it has none.
func replyCode(diag string) int {
	_, rest, ok := strings.Cut(diag, ";")
	if !ok {
		rest = diag
	}
	rest = strings.TrimSpace(rest)
	if len(rest) < 3 {
		return 0
	}
	n, err := strconv.Atoi(rest[:3])
	if err != nil || n < 200 || n > 599 || (len(rest) > 3 && rest[3] != ' ' && rest[3] != '-') {
		return 0
	}
	return n
}

// eventKey is ev.Key, or for an Event without one a digest of what it
// says, so the same report read twice is still one.
func eventKey(ev Event) string {
	if ev.Key != "" {
		return ev.Key
	}
	h := sha256.New()
	for _, s := range []string{string(ev.Kind), ev.Source, ev.Token, ev.MessageID, ev.Address, ev.Status, ev.Diagnostic, ev.At.UTC().String()} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}
