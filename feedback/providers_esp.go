package feedback

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
)

// sendGridEvent is one event of SendGrid's event webhook (a JSON array).
type sendGridEvent struct {
	Email     string     `json:"email"`
	Timestamp float64    `json:"timestamp"`
	SMTPID    string     `json:"smtp-id"`
	Event     string     `json:"event"`
	Type      string     `json:"type"`
	Reason    string     `json:"reason"`
	Status    flexString `json:"status"`
	EventID   string     `json:"sg_event_id"`
}

func parseSendGrid(body []byte) ([]Event, error) {
	var list []sendGridEvent
	if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '{' {
		list = make([]sendGridEvent, 1) // one event, as a file may hold it
		if err := decodeJSON(body, &list[0]); err != nil {
			return nil, err
		}
	} else if err := decodeJSON(body, &list); err != nil {
		return nil, err
	}
	var evs []Event
	for i, e := range list {
		if e.Event == "" {
			return nil, errors.New("event " + itoa(i) + " has no \"event\"")
		}
		if ev, ok := sendGridToEvent(e); ok {
			evs = append(evs, ev)
		}
	}
	return evs, nil
}

// sendGridKinds maps SendGrid's events to kinds; bounce is refined by its
// type (a "blocked" bounce is SendGrid's soft bounce).
var sendGridKinds = map[string]Kind{
	"bounce": HardBounce, "dropped": HardBounce, "deferred": Delayed, "spamreport": Complaint,
	"unsubscribe": Unsubscribe, "group_unsubscribe": Unsubscribe,
}

func sendGridToEvent(e sendGridEvent) (Event, bool) {
	kind, ok := sendGridKinds[e.Event]
	if !ok {
		return Event{}, false
	}
	diag := strings.TrimSpace(e.Reason)
	switch {
	case e.Event == "bounce" && e.Type == "blocked":
		kind = SoftBounce
	case e.Event == "dropped":
		kind, ok = droppedKind(e.Reason)
		diag = "SendGrid dropped: " + diag
	}
	key := e.EventID
	if key == "" { // older payloads: the message and event name it
		key = e.SMTPID + ":" + strings.ToLower(e.Email) + ":" + e.Event
	}
	return Event{Kind: kind, Source: "sendgrid", MessageID: bareID(e.SMTPID), Address: e.Email,
		Status: statusOf(string(e.Status), e.Reason), Diagnostic: diag, At: unixTime(e.Timestamp),
		Key: "sendgrid:" + key}, ok
}

// droppedKind: SendGrid drops a message it will not send, saying why in
// reason. Only its own suppression lists say something about the address;
// "Invalid" (SendGrid judged the address malformed) is a hard bounce with no
// status, which the Applier's RFC 3463 rules leave to the soft limit.
func droppedKind(reason string) (Kind, bool) {
	switch {
	case strings.Contains(reason, "Unsubscribed Address"):
		return Unsubscribe, true
	case strings.Contains(reason, "Spam Reporting Address"):
		return Complaint, true
	case strings.Contains(reason, "Bounced Address"), strings.Contains(reason, "Invalid"):
		return HardBounce, true
	}
	return "", false
}

// mailgunPayload is Mailgun's webhook body: the signature and one event.
type mailgunPayload struct {
	Signature MailgunSignature `json:"signature"`
	EventData *struct {
		Event     string  `json:"event"`
		ID        string  `json:"id"`
		Timestamp float64 `json:"timestamp"`
		Severity  string  `json:"severity"`
		Reason    string  `json:"reason"`
		Recipient string  `json:"recipient"`
		Message   struct {
			Headers struct {
				MessageID string `json:"message-id"`
			} `json:"headers"`
		} `json:"message"`
		DeliveryStatus struct {
			Code         flexString `json:"code"`
			Message      string     `json:"message"`
			Description  string     `json:"description"`
			EnhancedCode string     `json:"enhanced-code"`
		} `json:"delivery-status"`
	} `json:"event-data"`
}

// MailgunSignature is the signature block of a Mailgun webhook body.
type MailgunSignature struct {
	Timestamp string `json:"timestamp"`
	Token     string `json:"token"`
	Signature string `json:"signature"`
}

// ParseMailgunSignature reads the signature block of a Mailgun body.
func ParseMailgunSignature(body []byte) (MailgunSignature, error) {
	var p mailgunPayload
	if err := decodeJSON(body, &p); err != nil {
		return MailgunSignature{}, err
	}
	return p.Signature, nil
}

func parseMailgun(body []byte) ([]Event, error) {
	var p mailgunPayload
	if err := decodeJSON(body, &p); err != nil {
		return nil, err
	}
	d := p.EventData
	if d == nil || d.Event == "" {
		return nil, errors.New("no event-data.event")
	}
	var kind Kind
	switch d.Event {
	case "failed":
		// Temporary: Mailgun retries, and says permanent if it gives up;
		// counting each retry as a soft bounce would suppress early.
		kind = Delayed
		if d.Severity == "permanent" {
			kind = HardBounce
		}
	case "complained":
		kind = Complaint
	case "unsubscribed":
		kind = Unsubscribe
	default:
		return nil, nil // accepted, delivered, opened...
	}
	key := d.ID
	if key == "" { // the id is documented; without it, the event names itself
		key = d.Event + ":" + d.Message.Headers.MessageID + ":" + strings.ToLower(d.Recipient) + ":" + strconv.FormatFloat(d.Timestamp, 'f', -1, 64)
	}
	ds := d.DeliveryStatus
	diag := strings.TrimSpace(strings.Join([]string{string(ds.Code), ds.Message, ds.Description}, " "))
	return []Event{{Kind: kind, Source: "mailgun", MessageID: bareID(d.Message.Headers.MessageID), Address: d.Recipient,
		Status: statusOf(ds.EnhancedCode, ds.Message, ds.Description), Diagnostic: diag, At: unixTime(d.Timestamp),
		Key: "mailgun:" + key}}, nil
}
