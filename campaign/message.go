package campaign

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/idna"

	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/templates"
)

// Message is one recipient's message as send hands it to the relay.
// Send, preview and dry runs all build it with messageFor, so the bytes a
// preview shows are the bytes the relay gets (but for the Date header),
// and every one of them takes its Message-ID from its own row.
type Message struct {
	From string // MAIL FROM: the From header's address
	To   string // RCPT TO: the ledger's address (an IDN domain in punycode)
	ID   string // Message-ID, without angle brackets
	Data []byte // the message, CRLF line ends
}

// messageFor renders rec's message from its list row's fields for
// campaign c; date is the Date header's (the zero time means now).
// A *templates.FieldError is the row's own problem (send skips the row);
// any other error is the template's.
func messageFor(t *templates.Template, c ledger.Campaign, rec ledger.Recipient, fields map[string]string, date time.Time) (Message, error) {
	from, err := t.FromAddress(fields)
	if err != nil {
		return Message{}, err
	}
	id := messageID(c, rec, messageIDDomain(from))
	data, err := t.Render(fields, templates.Envelope{To: rec.Email, MessageID: id, Date: date, CampaignID: c.ID, Row: rec.Row})
	if err != nil {
		return Message{}, err
	}
	return Message{From: from, To: rec.Email, ID: id, Data: data}, nil
}

// messageID is fixed per campaign and recipient (its creation time, its
// name, the row and the ledger's address), so every attempt and any resend
// after a crash carry the same one and can be recognised. domain is the
// right-hand side: the row's own From domain (messageIDDomain), so it is
// the same whatever row comes first in a pass.
//
// The hash input is what fmt.Sprintf("%d\x00%s\x00%d\x00%s") made of
// those four (TestMessageIDStable), built without fmt: it runs per message.
func messageID(c ledger.Campaign, rec ledger.Recipient, domain string) string {
	var buf [128]byte
	b := strconv.AppendInt(buf[:0], c.CreatedAt.UnixMilli(), 10)
	b = append(append(b, 0), c.Name...)
	b = append(strconv.AppendInt(append(b, 0), int64(rec.Row), 10), 0)
	sum := sha256.Sum256(append(b, rec.Email...))
	id := hex.AppendEncode(buf[:0], sum[:12])
	id = strconv.AppendInt(append(id, '.'), int64(rec.Row), 10)
	return string(append(append(id, '@'), domain...))
}

// verpAddress is the envelope sender that names its row: returnPath's
// local part, '+', the signed token, '@', its domain. A bounce comes back
// to it; the token is what follows the last '+' of the local part.
func verpAddress(returnPath, token string) string {
	at := strings.LastIndexByte(returnPath, '@')
	return returnPath[:at] + "+" + token + returnPath[at:]
}

// messageIDDomain is the From address's domain in ASCII: a Message-ID is
// ASCII only, and an IDN From domain is not the row's fault.
func messageIDDomain(from string) string {
	domain := from[strings.LastIndexByte(from, '@')+1:]
	if isASCII(domain) { // the usual case, without idna's work per message
		return domain
	}
	if a, err := idna.Lookup.ToASCII(domain); err == nil {
		return a
	}
	return domain
}

// ledgerAddress is the form of a list address the ledger stores (see
// ParseAddress): compare it, not the list's raw value, with a ledger row's
// Email to tell whether the list changed. An address that does not parse
// comes back as it is.
func ledgerAddress(s string) string {
	if a, err := ParseAddress(s); err == nil {
		return a.ASCII
	}
	return s
}
