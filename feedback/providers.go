package feedback

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ErrProviderFormat is returned for a payload ParseProvider cannot read:
// not JSON, not the provider's shape, or a format it does not know.
var ErrProviderFormat = errors.New("unreadable provider payload")

// maxProviderEvents bounds the events one payload may carry (SendGrid
// batches; its documented limit is far lower), so a hostile body cannot
// make Apply run without end.
const maxProviderEvents = 10000

// ParseProvider reads one provider webhook payload (format "ses",
// "sendgrid" or "mailgun"), already authenticated or read from a file.
// Events it does not act on (deliveries, opens, clicks) give no Event; a
// payload that is not the provider's JSON is ErrProviderFormat. Every Event
// carries the Message-ID the provider quotes (the one mailblast issued,
// without angle brackets) and the recipient, for the Applier to match.
func ParseProvider(format string, body []byte) ([]Event, error) {
	var evs []Event
	var err error
	switch format {
	case "ses":
		evs, err = parseSES(body)
	case "sendgrid":
		evs, err = parseSendGrid(body)
	case "mailgun":
		evs, err = parseMailgun(body)
	default:
		return nil, fmt.Errorf("%w: format %q: want ses, sendgrid or mailgun", ErrProviderFormat, format)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrProviderFormat, format, err)
	}
	if len(evs) > maxProviderEvents {
		return nil, fmt.Errorf("%w: %s: %d events, at most %d", ErrProviderFormat, format, len(evs), maxProviderEvents)
	}
	return evs, nil
}

// statusRE finds an RFC 3463 enhanced status code in a diagnostic text,
// for providers that give only the SMTP reply ("550 5.1.1 unknown").
var statusRE = regexp.MustCompile(`\b[245]\.\d{1,3}\.\d{1,3}\b`)

// statusOf is given when it looks like an enhanced code, else the first
// one found in the diagnostic texts.
func statusOf(given string, texts ...string) string {
	if statusRE.MatchString(given) && len(given) <= 11 {
		return given
	}
	for _, t := range texts {
		if s := statusRE.FindString(t); s != "" {
			return s
		}
	}
	return ""
}

// bareID strips the angle brackets (and blanks) around a Message-ID.
func bareID(s string) string {
	s = strings.TrimSpace(s)
	return strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">"))
}

// unixTime reads a provider timestamp in seconds, integer or fractional.
func unixTime(f float64) time.Time {
	if f <= 0 {
		return time.Time{}
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC()
}

// decodeJSON decodes body into v, refusing trailing data.
func decodeJSON(body []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(body))
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}

// flexString is a JSON string or number, as providers are loose about
// which they send (Mailgun's code, SendGrid's status).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*f = flexString(n.String())
	return nil
}

func itoa(n int) string { return strconv.Itoa(n) }
