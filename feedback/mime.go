package feedback

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"unicode/utf8"
)

// reportParts is what Parse takes from the parts of a multipart/report:
// the first machine-readable part of the wanted types, and the header of
// the first returned message. The parts are read one level deep and
// never recursed into, so MIME nesting costs nothing (a returned message
// is read up to the end of its header only).
type reportParts struct {
	status   []byte      // message/delivery-status or message/feedback-report body
	returned mail.Header // header of the returned original, nil if none
}

// maxReportParts bounds the parts looked at: a report has three or four,
// and every part costs a header map however small it is.
const maxReportParts = 16

// returnedTypes are the parts that hold the returned original or its
// header (RFC 3462, RFC 6532, RFC 6533).
var returnedTypes = map[string]bool{
	"message/rfc822": true, "text/rfc822-headers": true,
	"message/global": true, "message/global-headers": true,
}

// readReportParts walks the top-level parts of m, keeping the first part
// whose type is in statusTypes and the first returned header. An error
// after the status part was read is dropped: a truncated or broken
// returned message still leaves a usable report.
func readReportParts(m *message, statusTypes map[string]bool) (reportParts, error) {
	var rp reportParts
	boundary := m.params["boundary"]
	if boundary == "" {
		return rp, errors.New("multipart/report without a boundary")
	}
	mr := multipart.NewReader(m.body, boundary)
	for n := 0; rp.status == nil || rp.returned == nil; n++ {
		if n == maxReportParts {
			if rp.status != nil {
				return rp, nil
			}
			return rp, fmt.Errorf("no report part among the first %d parts", maxReportParts)
		}
		part, err := mr.NextPart()
		if err != nil {
			if rp.status != nil {
				return rp, nil
			}
			if errors.Is(err, io.EOF) {
				return rp, errors.New("no report part")
			}
			return rp, fmt.Errorf("reading parts: %w", err)
		}
		if err := keepPart(&rp, part, statusTypes); err != nil && rp.status == nil {
			return rp, err
		}
	}
	return rp, nil
}

func keepPart(rp *reportParts, part *multipart.Part, statusTypes map[string]bool) error {
	media, _, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
	if err != nil {
		media = "text/plain" // RFC 2045's default; not a part we want
	}
	media = strings.ToLower(media)
	body := decodedBody(part)
	switch {
	case statusTypes[media] && rp.status == nil:
		b, err := io.ReadAll(io.LimitReader(body, MaxMessageSize))
		if err != nil {
			return fmt.Errorf("reading %s: %w", media, err)
		}
		rp.status = b
	case returnedTypes[media] && rp.returned == nil:
		rp.returned = readHeader(body)
	}
	return nil
}

// decodedBody undoes base64; multipart.Reader already undoes
// quoted-printable, and 7bit, 8bit and binary need nothing.
func decodedBody(part *multipart.Part) io.Reader {
	if strings.EqualFold(strings.TrimSpace(part.Header.Get("Content-Transfer-Encoding")), "base64") {
		return base64.NewDecoder(base64.StdEncoding, part)
	}
	return part
}

// readHeader reads the header section at the start of r, at most
// maxHeaderSection bytes of it; nil if there is none it can read.
// text/rfc822-headers has no empty line at its end: EOF ends it too.
func readHeader(r io.Reader) mail.Header {
	buf, _ := io.ReadAll(io.LimitReader(r, maxHeaderSection))
	buf = buf[:headerSectionLen(buf)]
	m, err := mail.ReadMessage(bytes.NewReader(append(buf, "\r\n\r\n"...)))
	if err != nil || len(m.Header) == 0 {
		return nil
	}
	return m.Header
}

// fieldGroup is one group of RFC 3464 / RFC 5965 fields: header-like
// "Name: value" lines, continued by lines that start with white space.
// Names are lower-cased; the first occurrence of a name wins; only the
// fields in groupFields are kept.
type fieldGroup map[string]string

// Bounds of a field group: a hostile report with a million fields or a
// megabyte value in one block costs no more than these.
const (
	maxGroupLines = 256 // continuation lines included
	maxFieldValue = 4096
)

func (g fieldGroup) get(name string) string { return g[name] }

// splitGroups splits a delivery-status body into its groups, separated by
// empty lines: the first is the per-message group, then at most
// maxBlocks per-recipient groups are parsed; the rest are only counted.
func splitGroups(body []byte, maxBlocks int) (perMessage fieldGroup, blocks []fieldGroup, skipped int) {
	var group [][]byte
	flush := func() {
		if len(group) == 0 {
			return
		}
		switch {
		case perMessage == nil:
			perMessage = parseGroup(group)
		case len(blocks) < maxBlocks:
			blocks = append(blocks, parseGroup(group))
		default:
			skipped++
		}
		group = group[:0]
	}
	for len(body) > 0 {
		var line []byte
		line, body = cutLine(body)
		if len(bytes.TrimSpace(line)) == 0 {
			flush()
			continue
		}
		if len(group) < maxGroupLines {
			group = append(group, line)
		}
	}
	flush()
	return perMessage, blocks, skipped
}

// cutLine returns the first line of b without its line ending, and the rest.
func cutLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return bytes.TrimSuffix(b, []byte("\r")), nil
	}
	return bytes.TrimSuffix(b[:i], []byte("\r")), b[i+1:]
}

// groupFields are the fields Parse reads (RFC 3464, RFC 5965); others
// are skipped without costing an allocation.
var groupFields = map[string]bool{
	"original-envelope-id": true, "arrival-date": true, "original-recipient": true,
	"final-recipient": true, "action": true, "status": true, "diagnostic-code": true,
	"last-attempt-date": true, "feedback-type": true, "original-rcpt-to": true,
	"original-mail-from": true,
}

func parseGroup(lines [][]byte) fieldGroup {
	g := fieldGroup{}
	var name string // the field a continuation line continues
	for _, line := range lines {
		if line[0] == ' ' || line[0] == '\t' {
			if v, ok := g[name]; ok && len(v) < maxFieldValue {
				g[name] = capBytes(v+" "+fieldString(line), maxFieldValue)
			}
			continue
		}
		name = ""
		k, v, ok := bytes.Cut(line, []byte(":"))
		if key := fieldName(k); ok && key != "" {
			if _, dup := g[key]; !dup {
				name = key
				g[key] = fieldString(v)
			}
		}
	}
	return g
}

// fieldName is the lower-cased name k if Parse reads that field, else "".
func fieldName(k []byte) string {
	var buf [32]byte
	k = bytes.TrimSpace(k)
	if len(k) > len(buf) {
		return ""
	}
	for i, c := range k {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	if !groupFields[string(buf[:len(k)])] {
		return ""
	}
	return string(buf[:len(k)])
}

// fieldString is b trimmed and capped at maxFieldValue bytes, without
// copying more than that.
func fieldString(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > maxFieldValue {
		b = b[:maxFieldValue+utf8.UTFMax] // capBytes cuts at a rune start
	}
	return capBytes(string(b), maxFieldValue)
}

// capBytes cuts s to at most n bytes without splitting a UTF-8 sequence.
func capBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// clean makes a value from a report safe to store and print: valid UTF-8,
// no control characters (a diagnostic could carry terminal escapes), at
// most n bytes.
func clean(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
	return capBytes(strings.TrimSpace(s), n)
}
