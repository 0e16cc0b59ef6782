package feedback

import (
	"errors"
	"strings"
	"time"
)

// SNSMessage is the envelope Amazon SNS posts (and signs): a Notification
// carries SES's JSON as a string in Message.
type SNSMessage struct {
	Type             string
	MessageId        string
	Token            string
	TopicArn         string
	Subject          string
	Message          string
	Timestamp        string
	SignatureVersion string
	Signature        string
	SigningCertURL   string `json:"SigningCertURL"`
	SubscribeURL     string `json:"SubscribeURL"`
	UnsubscribeURL   string `json:"UnsubscribeURL"`
}

// sesNotification is SES's bounce or complaint notification, as SNS
// identity notifications (notificationType) or event publishing
// (eventType) send it.
type sesNotification struct {
	NotificationType string `json:"notificationType"`
	EventType        string `json:"eventType"`
	Bounce           *struct {
		BounceType        string `json:"bounceType"`
		BounceSubType     string `json:"bounceSubType"`
		FeedbackID        string `json:"feedbackId"`
		Timestamp         string `json:"timestamp"`
		BouncedRecipients []struct {
			EmailAddress   string `json:"emailAddress"`
			Action         string `json:"action"`
			Status         string `json:"status"`
			DiagnosticCode string `json:"diagnosticCode"`
		} `json:"bouncedRecipients"`
	} `json:"bounce"`
	Complaint *struct {
		FeedbackID            string `json:"feedbackId"`
		Timestamp             string `json:"timestamp"`
		ComplaintFeedbackType string `json:"complaintFeedbackType"`
		ComplainedRecipients  []struct {
			EmailAddress string `json:"emailAddress"`
		} `json:"complainedRecipients"`
	} `json:"complaint"`
	Mail struct {
		MessageID string `json:"messageId"` // SES's own id: never matched on
		Headers   []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"headers"`
		CommonHeaders struct {
			MessageID string `json:"messageId"`
		} `json:"commonHeaders"`
	} `json:"mail"`
}

// ParseSNS reads an SNS envelope; ok is false when body is not one.
func ParseSNS(body []byte) (SNSMessage, bool) {
	var m SNSMessage
	if decodeJSON(body, &m) != nil || m.Type == "" || m.TopicArn == "" {
		return SNSMessage{}, false
	}
	return m, true
}

// parseSES reads the SNS envelope around SES's notification, or the bare
// notification. A SubscriptionConfirmation carries no Event.
func parseSES(body []byte) ([]Event, error) {
	if m, ok := ParseSNS(body); ok {
		if m.Type != "Notification" {
			return nil, nil
		}
		body = []byte(m.Message)
	}
	var n sesNotification
	if err := decodeJSON(body, &n); err != nil {
		return nil, err
	}
	kind := n.NotificationType
	if kind == "" {
		kind = n.EventType
	}
	if kind == "" {
		return nil, errors.New("neither an SNS message nor an SES notification (no notificationType or eventType)")
	}
	switch {
	case kind == "Bounce" && n.Bounce != nil:
		return sesBounces(&n), nil
	case kind == "Complaint" && n.Complaint != nil:
		return sesComplaints(&n), nil
	}
	return nil, nil // Delivery, Send, Open...: nothing to act on
}

// sesMessageID is the Message-ID mailblast wrote, from the original
// headers; SES's mail.messageId is its own and matches nothing of ours.
func (n *sesNotification) messageID() string {
	for _, h := range n.Mail.Headers {
		if strings.EqualFold(h.Name, "Message-ID") {
			return bareID(h.Value)
		}
	}
	return bareID(n.Mail.CommonHeaders.MessageID)
}

func sesBounces(n *sesNotification) []Event {
	b := n.Bounce
	kind := SoftBounce // Transient and Undetermined prove nothing
	if b.BounceType == "Permanent" {
		kind = HardBounce
	}
	at := sesTime(b.Timestamp)
	var evs []Event
	for _, r := range b.BouncedRecipients {
		diag := r.DiagnosticCode
		if diag == "" {
			diag = "SES " + b.BounceType + "/" + b.BounceSubType
		}
		evs = append(evs, Event{Kind: kind, Source: "ses", MessageID: n.messageID(), Address: r.EmailAddress,
			Status: statusOf(r.Status, r.DiagnosticCode), Diagnostic: diag, At: at,
			Key: sesKey(b.FeedbackID, n, r.EmailAddress, b.Timestamp)})
	}
	return evs
}

func sesComplaints(n *sesNotification) []Event {
	c := n.Complaint
	if c.ComplaintFeedbackType == "not-spam" {
		return nil // the opposite of a complaint
	}
	at := sesTime(c.Timestamp)
	var evs []Event
	for _, r := range c.ComplainedRecipients {
		evs = append(evs, Event{Kind: Complaint, Source: "ses", MessageID: n.messageID(), Address: r.EmailAddress,
			Diagnostic: "SES complaint " + c.ComplaintFeedbackType, At: at,
			Key: sesKey(c.FeedbackID, n, r.EmailAddress, c.Timestamp)})
	}
	return evs
}

// sesKey names one recipient of one SES notification: its feedbackId, or
// without one (never seen, but not promised) the message and the time.
func sesKey(feedbackID string, n *sesNotification, addr, ts string) string {
	if feedbackID == "" {
		feedbackID = n.messageID() + ":" + ts
	}
	return "ses:" + feedbackID + ":" + strings.ToLower(addr)
}

func sesTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}
