package templates

import (
	"fmt"
	"mime"
	netmail "net/mail"
	"strconv"
	"strings"
	"unicode/utf8"
)

// fieldKind says how a rendered header value is checked and encoded.
type fieldKind uint8

const (
	kindText    fieldKind = iota // RFC 2047 Q-encoding when not ASCII
	kindSubject                  // as kindText (go-message's SetSubject)
	kindList                     // address list: To, Cc, Reply-To
	kindMailbox                  // exactly one address: From, Sender
)

// headerSpec describes a header field the package knows about.
type headerSpec struct {
	name      string    // conventional spelling, used on output
	kind      fieldKind // how the value is checked and encoded
	once      bool      // may appear at most once (RFC 5322 section 3.6)
	omitEmpty bool      // left out of the message when it renders empty
	refused   string    // non-empty: not allowed in a template, and why
}

const ownedByBuilder = "is written by the message builder and cannot be set in a template"

// knownHeaders is keyed by the lower-case field name.
var knownHeaders = map[string]headerSpec{
	"from":        {name: "From", kind: kindMailbox, once: true},
	"sender":      {name: "Sender", kind: kindMailbox, once: true, omitEmpty: true},
	"to":          {name: "To", kind: kindList, once: true},
	"cc":          {name: "Cc", kind: kindList, once: true, omitEmpty: true},
	"reply-to":    {name: "Reply-To", kind: kindList, once: true, omitEmpty: true},
	"subject":     {name: "Subject", kind: kindSubject, once: true},
	"in-reply-to": {name: "In-Reply-To", once: true, omitEmpty: true},
	"references":  {name: "References", once: true, omitEmpty: true},
	"bcc": {name: "Bcc", refused: "is not supported: recipients come from the list, " +
		"and a Bcc header would be shown to every recipient"},
	// RFC 2369 and RFC 8058 fields and Feedback-ID: once, or a receiver
	// cannot tell which one counts.
	"list-unsubscribe":      {name: "List-Unsubscribe", once: true, omitEmpty: true},
	"list-unsubscribe-post": {name: "List-Unsubscribe-Post", once: true, omitEmpty: true},
	"list-id":               {name: "List-Id", once: true, omitEmpty: true},
	"feedback-id":           {name: "Feedback-ID", once: true, omitEmpty: true},
	"dkim-signature": {name: "DKIM-Signature", refused: "is added by DKIM signing " +
		"(configure the DKIM domain, selector and key instead)"},
	"date":                      {name: "Date", refused: ownedByBuilder},
	"message-id":                {name: "Message-ID", refused: ownedByBuilder},
	"mime-version":              {name: "MIME-Version", refused: ownedByBuilder},
	"content-type":              {name: "Content-Type", refused: ownedByBuilder},
	"content-transfer-encoding": {name: "Content-Transfer-Encoding", refused: ownedByBuilder},
	"content-disposition":       {name: "Content-Disposition", refused: ownedByBuilder},
	"content-id":                {name: "Content-ID", refused: ownedByBuilder},
}

// lookupHeader returns the spec for a field name as written in a template.
func lookupHeader(name string) headerSpec {
	if spec, ok := knownHeaders[strings.ToLower(name)]; ok {
		return spec
	}
	return headerSpec{name: name, kind: kindText, omitEmpty: true}
}

// validFieldName reports whether name is an RFC 5322 field name: one or more
// printable US-ASCII characters other than colon.
func validFieldName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < '!' || c > '~' || c == ':' {
			return false
		}
	}
	return true
}

// checkValue refuses a value that could end the header line.
func checkValue(v string) error {
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\r', '\n':
			return ErrLineBreak
		case 0:
			return errNUL
		}
	}
	return nil
}

// encodeValue turns a checked, trimmed, non-empty value into its wire form
// (still unfolded): what go-message's SetSubject, SetText and
// SetAddressList store, without a header to store it in.
func encodeValue(spec headerSpec, v string) (string, error) {
	switch spec.kind {
	case kindList, kindMailbox:
		addrs, err := parseAddresses(spec, v)
		if err != nil {
			return "", err
		}
		return formatAddressList(addrs), nil
	default: // kindText and kindSubject: SetSubject is SetText
		return mime.QEncoding.Encode("utf-8", v), nil
	}
}

// formatAddressList is go-message's: the addresses' String forms joined
// by ", ".
func formatAddressList(addrs []*netmail.Address) string {
	if len(addrs) == 1 {
		return addrs[0].String()
	}
	var b strings.Builder
	for i, a := range addrs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(a.String())
	}
	return b.String()
}

// parseAddresses parses an address header value. net/mail parses before
// anything formats: Address.String drops CR and LF silently, so it must
// never see unchecked input.
func parseAddresses(spec headerSpec, v string) ([]*netmail.Address, error) {
	if v == "" {
		return nil, fmt.Errorf("%w: empty", ErrBadAddress)
	}
	addrs, err := netmail.ParseAddressList(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadAddress, err)
	}
	if spec.kind == kindMailbox && len(addrs) != 1 {
		return nil, fmt.Errorf("%w: want one address, have %d", ErrBadAddress, len(addrs))
	}
	return addrs, nil
}

const (
	foldLen    = 78  // RFC 5322 2.1.1: SHOULD
	maxLineLen = 998 // RFC 5322 2.1.1: MUST
)

// appendField appends "name: value" CRLF to dst, folding the value before
// whitespace so that lines stay within 78 characters where the value allows,
// and failing with ErrLineTooLong when a line would pass 998.
//
// When the first word does not fit after "name: ", an encoded word is split
// in two between characters, and any other word goes on a continuation line
// of its own when that makes it fit.
//
// go-message's own folding is not used: when the first piece of a value has
// no whitespace within 76 columns it falls back to its 998 limit for the
// whole line, which puts a long encoded Subject on one line.
func appendField(dst []byte, name, value string) ([]byte, error) {
	dst = append(dst, name...)
	dst = append(dst, ':')
	line := len(name) + 1
	for first := true; value != ""; first = false {
		// A chunk is a run of whitespace and the word after it; the
		// value is trimmed, so the first chunk has no whitespace.
		i := 0
		for i < len(value) && isWSP(value[i]) {
			i++
		}
		for i < len(value) && !isWSP(value[i]) {
			i++
		}
		chunk := value[:i]
		value = value[i:]
		switch {
		case !first:
			if line+len(chunk) > foldLen {
				dst = append(dst, '\r', '\n')
				line = 0
			}
		default:
			if line+1+len(chunk) > foldLen {
				if head, tail, ok := splitEncodedWord(chunk, foldLen-line-1); ok {
					chunk, value = head, " "+tail+value
				}
			}
			if foldAfterColon(line+1+len(chunk), 1+len(chunk)) {
				dst = append(dst, '\r', '\n', ' ')
				line = 1
			} else {
				dst = append(dst, ' ')
				line++
			}
		}
		if line+len(chunk) > maxLineLen {
			return dst, ErrLineTooLong
		}
		dst = append(dst, chunk...)
		line += len(chunk)
	}
	return append(dst, '\r', '\n'), nil
}

const qPrefix = "=?utf-8?q?" // how mime.QEncoding starts a UTF-8 word

// splitEncodedWord splits a Q-encoded UTF-8 word, as mime.QEncoding writes
// it, into two such words, the first at most n characters long. It cuts
// between characters, never inside one (RFC 2047 section 5). Decoders join
// adjacent encoded words and drop the whitespace between them.
func splitEncodedWord(word string, n int) (head, tail string, ok bool) {
	text, ok := strings.CutPrefix(word, qPrefix)
	if !ok {
		return "", "", false
	}
	if text, ok = strings.CutSuffix(text, "?="); !ok {
		return "", "", false
	}
	limit := n - len(qPrefix) - len("?=")
	cut := 0
	for i := 0; i < len(text) && i <= limit; {
		start, size := qToken(text[i:])
		if size == 0 {
			return "", "", false // not Q-encoding
		}
		if start && i > 0 {
			cut = i
		}
		i += size
	}
	if cut == 0 {
		return "", "", false
	}
	return qPrefix + text[:cut] + "?=", qPrefix + text[cut:] + "?=", true
}

// qToken returns the size of the Q-encoded byte at the start of s (3 for
// "=XX", else 1; 0 when malformed) and whether that byte starts a UTF-8
// character.
func qToken(s string) (start bool, size int) {
	if s[0] != '=' {
		return true, 1
	}
	if len(s) < 3 {
		return false, 0
	}
	b, err := strconv.ParseUint(s[1:3], 16, 8)
	if err != nil {
		return false, 0
	}
	return utf8.RuneStart(byte(b)), 3
}

// foldAfterColon reports whether the first word, which makes a line of
// sameLine characters after "name: " or of ownLine on a line of its own,
// should go on its own line.
func foldAfterColon(sameLine, ownLine int) bool {
	return sameLine > foldLen && ownLine <= foldLen || sameLine > maxLineLen
}

func isWSP(c byte) bool { return c == ' ' || c == '\t' }

// trimWSP trims spaces and tabs.
func trimWSP(s string) string { return strings.Trim(s, " \t") }
