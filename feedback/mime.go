package feedback

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"strings"
	"unicode/utf8"
)

// reportParts is what Parse takes from the parts of a multipart/report:
// the first machine-readable part of the wanted types, and the header of
// the first returned message. The parts are read one level deep and
// never recursed into, so MIME nesting costs nothing (a returned message
// is read up to the end of its header only).
type reportParts struct {
	found    bool         // a part of the wanted type was read
	status   statusGroups // its field groups
	returned mail.Header  // header of the returned original, nil if none
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
func readReportParts(m *message, statusTypes map[string]bool, maxBlocks int) (reportParts, error) {
	var rp reportParts
	boundary := m.params["boundary"]
	if boundary == "" {
		return rp, errors.New("multipart/report without a boundary")
	}
	mr := multipart.NewReader(m.body, boundary)
	for n := 0; !rp.found || rp.returned == nil; n++ {
		if n == maxReportParts {
			if rp.found {
				return rp, nil
			}
			return rp, fmt.Errorf("no report part among the first %d parts", maxReportParts)
		}
		part, err := mr.NextPart()
		if err != nil {
			if rp.found {
				return rp, nil
			}
			if errors.Is(err, io.EOF) {
				return rp, errors.New("no report part")
			}
			return rp, fmt.Errorf("reading parts: %w", err)
		}
		keepPart(&rp, part, statusTypes, maxBlocks)
	}
	return rp, nil
}

// keepPart reads part if it is one of those wanted. A read error ends
// the part: what was read before it is kept.
func keepPart(rp *reportParts, part *multipart.Part, statusTypes map[string]bool, maxBlocks int) {
	media, _, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
	if err != nil {
		media = "text/plain" // RFC 2045's default; not a part we want
	}
	media = strings.ToLower(media)
	body := decodedBody(part)
	switch {
	case statusTypes[media] && !rp.found:
		rp.found, rp.status = true, splitGroups(body, maxBlocks)
	case returnedTypes[media] && rp.returned == nil:
		rp.returned = readHeader(body)
	}
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
// maxHeaderSection bytes of it, and none of the body after it; nil if
// there is none it can read. text/rfc822-headers has no empty line at
// its end, and a broken field ends the header: what came before is kept.
func readHeader(r io.Reader) mail.Header {
	tp := textproto.NewReader(bufio.NewReader(io.LimitReader(r, maxHeaderSection)))
	h, _ := tp.ReadMIMEHeader()
	if len(h) == 0 {
		return nil
	}
	return mail.Header(h)
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

// statusGroups are the groups of a delivery-status (or feedback-report)
// part: the per-message group, then the per-recipient blocks.
type statusGroups struct {
	perMessage fieldGroup
	blocks     []fieldGroup
	skipped    int // blocks past maxBlocks, counted only
}

// splitGroups reads the groups of r, separated by empty lines, line by
// line (a hostile part is never held whole): the first is the
// per-message group, then at most maxBlocks per-recipient groups are
// parsed; the rest are only counted.
func splitGroups(r io.Reader, maxBlocks int) statusGroups {
	var sg statusGroups
	br := bufio.NewReaderSize(r, maxFieldValue)
	var cur groupParser
	for {
		line, err := readLine(br)
		if len(bytes.TrimSpace(line)) == 0 {
			sg.add(&cur, maxBlocks)
		} else if cur.lines++; cur.lines <= maxGroupLines && (sg.perMessage == nil || len(sg.blocks) < maxBlocks) {
			cur.feed(line)
		}
		if err != nil {
			sg.add(&cur, maxBlocks)
			return sg
		}
	}
}

// add ends the group cur, if it had any line.
func (sg *statusGroups) add(cur *groupParser, maxBlocks int) {
	if cur.lines == 0 {
		return
	}
	switch {
	case sg.perMessage == nil:
		sg.perMessage = cur.group()
	case len(sg.blocks) < maxBlocks:
		sg.blocks = append(sg.blocks, cur.group())
	default:
		sg.skipped++
	}
	*cur = groupParser{}
}

// readLine reads one line without its line ending; of a line longer than
// the reader's buffer, only the start is kept.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		line = append([]byte(nil), line...)
		for err == bufio.ErrBufferFull {
			_, err = br.ReadSlice('\n')
		}
	}
	line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	return line, err
}

// groupFields are the fields Parse reads (RFC 3464, RFC 5965); others
// are skipped without costing an allocation.
var groupFields = map[string]bool{
	"original-envelope-id": true, "arrival-date": true, "original-recipient": true,
	"final-recipient": true, "action": true, "status": true, "diagnostic-code": true,
	"last-attempt-date": true, "feedback-type": true, "original-rcpt-to": true,
	"original-mail-from": true,
}

// groupParser reads the lines of one group as they come.
type groupParser struct {
	g     fieldGroup
	name  string // the field a continuation line continues
	lines int
}

func (p *groupParser) group() fieldGroup {
	if p.g == nil {
		return fieldGroup{}
	}
	return p.g
}

func (p *groupParser) feed(line []byte) {
	if p.g == nil {
		p.g = fieldGroup{}
	}
	if line[0] == ' ' || line[0] == '\t' {
		if v, ok := p.g[p.name]; ok && len(v) < maxFieldValue {
			p.g[p.name] = capBytes(v+" "+fieldString(line), maxFieldValue)
		}
		return
	}
	p.name = ""
	k, v, ok := bytes.Cut(line, []byte(":"))
	if key := fieldName(k); ok && key != "" {
		if _, dup := p.g[key]; !dup {
			p.name = key
			p.g[key] = fieldString(v)
		}
	}
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
