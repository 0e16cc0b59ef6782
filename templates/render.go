package templates

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-message/mail"
	"golang.org/x/net/idna"
)

// Envelope holds what one message needs beyond the template data.
type Envelope struct {
	To        string    // recipient address; the To header when the template has none
	MessageID string    // without angle brackets, e.g. "abc.12@example.com"
	Date      time.Time // the Date header; the zero time means now
	// CampaignID and Row name the recipient in the signed one-click
	// unsubscribe link (Options.Unsubscribe.BaseURL).
	CampaignID int64
	Row        int
}

// Fields the builder adds. go-message keeps these raw slices and never
// modifies them, so they are shared by all messages.
var (
	mimeVersionField = []byte("MIME-Version: 1.0\r\n")
	contentTypeField = []byte("Content-Type: text/plain; charset=utf-8\r\n")
	qpField          = []byte("Content-Transfer-Encoding: quoted-printable\r\n")
	sevenBitField    = []byte("Content-Transfer-Encoding: 7bit\r\n")
)

// envTo formats Envelope.To when the template has no To.
var envTo = &headerTemplate{spec: knownHeaders["to"]}

// Render executes the template for one recipient and returns the message,
// with CRLF line endings. A header value that is unusable for this recipient
// is a *FieldError; a template execution error (such as a missing key) comes
// wrapped with the header name or "body".
func (t *Template) Render(data map[string]string, env Envelope) ([]byte, error) {
	st := getState()
	defer putState(st)
	if err := t.render(&st.out, st, data, env); err != nil {
		return nil, err
	}
	return bytes.Clone(st.out.Bytes()), nil
}

// AppendRender is Render appending the message to dst, for a caller that
// reuses its buffers. On error it returns dst unchanged.
func (t *Template) AppendRender(dst []byte, data map[string]string, env Envelope) ([]byte, error) {
	st := getState()
	defer putState(st)
	w := bytes.NewBuffer(dst)
	if err := t.render(w, st, data, env); err != nil {
		return dst, err
	}
	return w.Bytes(), nil
}

// FromAddress renders the From header for data and returns its bare address,
// e.g. "news@acme.example".
func (t *Template) FromAddress(data map[string]string) (string, error) {
	if t.from.constant {
		return t.from.addr, nil
	}
	st := getState()
	defer putState(st)
	if err := t.from.x.execute(&st.val, data); err != nil {
		return "", fmt.Errorf("header %q: %w", t.from.spec.name, err)
	}
	return t.from.address(st.val.String())
}

func (t *Template) render(w *bytes.Buffer, st *renderState, data map[string]string, env Envelope) error {
	if err := t.prepare(st, data, env); err != nil {
		return err
	}
	if t.signer == nil {
		t.write(w, st, env)
		return nil
	}
	st.unsigned.Reset()
	t.write(&st.unsigned, st, env)
	return t.signer.sign(w, st.unsigned.Bytes())
}

// prepare renders everything that depends on the row into st: the header
// fields, the bodies, the row's attachment. Every check that can fail for
// one recipient happens here, before anything is written.
func (t *Template) prepare(st *renderState, data map[string]string, env Envelope) error {
	for _, h := range t.headers {
		if err := st.addTemplateField(h, data); err != nil {
			return err
		}
	}
	if t.unsub != nil {
		if err := st.addUnsubscribe(t.unsub, data, env); err != nil {
			return err
		}
	}
	if !t.hasTo {
		if err := st.addField(envTo, env.To); err != nil {
			return err
		}
	} else if err := namesRecipient(st.to, env.To); err != nil {
		return &FieldError{Header: "To", Err: err}
	}
	if err := checkMessageID(env.MessageID); err != nil {
		return &FieldError{Header: "Message-ID", Err: err}
	}
	if !t.htmlOnly {
		st.val.Reset()
		if err := t.body.execute(&st.val, data); err != nil {
			return fmt.Errorf("body: %w", err)
		}
		st.body, st.bodyQP = normalizeBody(st.body[:0], st.val.Bytes())
	}
	if t.html != nil {
		st.val.Reset()
		if err := t.html.execute(&st.val, data); err != nil {
			return fmt.Errorf("html body: %w", err)
		}
		st.html, st.htmlQP = normalizeBody(st.html[:0], st.val.Bytes())
	}
	if err := t.readRowAttachment(st, data); err != nil {
		return err
	}
	if t.signer != nil && !t.from.constant {
		return t.checkAlignment(st, data)
	}
	return nil
}

// write writes the message prepared in st. Every field and part is
// written straight into w, in the bytes go-message's writers wrote them
// in before (the golden files hold them): those writers parsed each
// Content-Type back, copied each header, formatted each boundary line
// and drew a random boundary per multipart writer, for every message.
func (t *Template) write(w *bytes.Buffer, st *renderState, env Envelope) {
	root := t.rootNoRow
	if st.hasAttach {
		root = t.root
	}
	switch root.kind {
	case nodeText:
		st.writeSingle(w, env, contentTypeField, st.body, st.bodyQP)
	case nodeHTML:
		st.writeSingle(w, env, htmlContentTypeField, st.html, st.htmlQP)
	default:
		st.setBoundary(env.MessageID)
		st.writeMultipart(w, env, root)
	}
}

// renderState is the scratch space of one Render, pooled.
type renderState struct {
	val    bytes.Buffer // output of one template
	body   []byte       // the text body with CRLF line endings
	bodyQP bool         // body needs quoted-printable
	html   []byte       // the HTML body with CRLF line endings
	htmlQP bool
	arena  []byte       // header fields rendered for this message
	fields []fieldRef   // in output order
	out    bytes.Buffer // Render's message

	to           string       // the template's To as rendered, to check it names the recipient
	hasAttach    bool         // the row has an attachment
	attachHeader bytes.Buffer // its part header and the blank line after it
	attachData   bytes.Buffer

	boundary [16]byte     // hex, from the Message-ID
	unsigned bytes.Buffer // the message before DKIM signing
}

// fieldRef is a shared precomputed field, or arena[start:end].
type fieldRef struct {
	raw        []byte
	start, end int
}

var statePool = sync.Pool{New: func() any { return new(renderState) }}

func getState() *renderState {
	st := statePool.Get().(*renderState)
	st.val.Reset()
	st.out.Reset()
	st.arena = st.arena[:0]
	st.fields = st.fields[:0]
	return st
}

// maxPooled keeps one huge message from pinning its buffers.
const maxPooled = 1 << 20

func putState(st *renderState) {
	if st.out.Cap() > maxPooled || st.val.Cap() > maxPooled || cap(st.body) > maxPooled || cap(st.arena) > maxPooled ||
		cap(st.html) > maxPooled || st.attachData.Cap() > maxPooled || st.unsigned.Cap() > maxPooled {
		return
	}
	clear(st.fields) // no references into a Template from the pool
	statePool.Put(st)
}

func (st *renderState) addTemplateField(h *headerTemplate, data map[string]string) error {
	if h.constant {
		if h.raw != nil {
			st.fields = append(st.fields, fieldRef{raw: h.raw})
		}
		if h.spec.name == "To" {
			st.to = string(h.raw)
		}
		return nil
	}
	st.val.Reset()
	if err := h.x.execute(&st.val, data); err != nil {
		return fmt.Errorf("header %q: %w", h.spec.name, err)
	}
	if h.spec.name == "To" {
		st.to = st.val.String()
	}
	return st.addField(h, st.val.String())
}

func (st *renderState) addField(h *headerTemplate, v string) error {
	start := len(st.arena)
	var err error
	if st.arena, err = h.build(st.arena, v); err != nil {
		return err
	}
	if len(st.arena) > start {
		st.fields = append(st.fields, fieldRef{start: start, end: len(st.arena)})
	}
	return nil
}

// namesRecipient checks that a template's To names the address the message
// goes to. A To naming someone else would show each recipient another
// person's address as theirs. The local part and the "@" are compared (the
// domain may be written in Unicode in the template and in ASCII on the
// envelope).
func namesRecipient(to, rcpt string) error {
	if rcpt == "" {
		return nil
	}
	if name, value, ok := strings.Cut(to, ":"); ok && strings.EqualFold(strings.TrimSpace(name), "To") {
		to = value // a constant To is kept as its whole field
	}
	list, err := mail.ParseAddressList(strings.TrimSpace(to))
	if err != nil || len(list) != 1 || !sameAddress(list[0].Address, rcpt) {
		return fmt.Errorf("%w: it must name the recipient <%s> and no one else, as the message goes to that address alone; leave To out and mailblast writes it", ErrBadAddress, rcpt)
	}
	return nil
}

// sameAddress compares two addresses without regard to case, with the
// domain in its ASCII form (the template may write it in Unicode, the
// envelope has it in punycode).
func sameAddress(a, b string) bool {
	ascii := func(s string) string {
		at := strings.LastIndexByte(s, '@')
		if at < 0 {
			return strings.ToLower(s)
		}
		d, err := idna.Lookup.ToASCII(s[at+1:])
		if err != nil {
			d = s[at+1:]
		}
		return strings.ToLower(s[:at+1] + d)
	}
	return ascii(a) == ascii(b)
}

// checkMessageID accepts left@right in printable ASCII without the
// characters that would end or break a msg-id.
func checkMessageID(id string) error {
	at := -1
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c <= ' ' || c > '~' || c == '<' || c == '>':
			return fmt.Errorf("%w: %q", ErrBadMessageID, id)
		case c == '@':
			at = i
		}
	}
	if at <= 0 || at == len(id)-1 {
		return fmt.Errorf("%w: %q: want left@right", ErrBadMessageID, id)
	}
	if len("Message-ID: <>")+len(id) > maxLineLen {
		return fmt.Errorf("%w: %d characters long", ErrBadMessageID, len(id))
	}
	return nil
}

// writeSingle writes a message of one text part: the fields rendered from
// the template (and To), already encoded and folded, then the fields the
// builder owns, then the body.
func (st *renderState) writeSingle(w *bytes.Buffer, env Envelope, contentType, body []byte, qp bool) {
	st.writeFields(w)
	writeDateAndID(w, env)
	w.Write(mimeVersionField)
	w.Write(contentType)
	if !qp {
		// 7bit is the identity on this body, already CRLF and within 76
		// characters a line.
		w.Write(sevenBitField)
		w.WriteString("\r\n")
		w.Write(body)
		return
	}
	w.Write(qpField)
	w.WriteString("\r\n")
	writeQP(w, body)
}

// writeFields writes the fields rendered from the template.
func (st *renderState) writeFields(w *bytes.Buffer) {
	for _, f := range st.fields {
		if f.raw == nil {
			f.raw = st.arena[f.start:f.end]
		}
		w.Write(f.raw)
	}
}

// writeDateAndID writes the Date and Message-ID fields.
func writeDateAndID(w *bytes.Buffer, env Envelope) {
	date := time.Now()
	if !env.Date.IsZero() {
		date = env.Date
	}
	b := w.AvailableBuffer()
	b = append(b, "Date: "...)
	b = date.AppendFormat(b, dateLayout)
	b = append(b, "\r\nMessage-ID: <"...)
	b = append(b, env.MessageID...)
	b = append(b, ">\r\n"...)
	w.Write(b)
}

// writeQP writes body quoted-printable, encoding into w's spare capacity.
func writeQP(w *bytes.Buffer, body []byte) {
	w.Grow(len(body) + len(body)/8 + 64) // plain text: one soft break per 75 bytes
	w.Write(appendQP(w.AvailableBuffer(), body))
}

const dateLayout = "Mon, 02 Jan 2006 15:04:05 -0700" // RFC 5322 section 3.3

// build checks and encodes the rendered value v of h and appends the folded
// field to dst. It appends nothing when the field is left out.
func (h *headerTemplate) build(dst []byte, v string) ([]byte, error) {
	v, err := h.check(v)
	if err != nil {
		return dst, err
	}
	if v == "" && h.spec.omitEmpty {
		return dst, nil
	}
	wire, err := encodeValue(h.spec, v)
	if err != nil {
		return dst, &FieldError{Header: h.spec.name, Err: err}
	}
	start := len(dst)
	if dst, err = appendField(dst, h.spec.name, wire); err != nil {
		return dst[:start], &FieldError{Header: h.spec.name, Err: err}
	}
	return dst, nil
}

// check refuses line breaks and trims surrounding whitespace.
func (h *headerTemplate) check(v string) (string, error) {
	if err := checkValue(v); err != nil {
		return "", &FieldError{Header: h.spec.name, Err: err}
	}
	return trimWSP(v), nil
}

// address returns the bare address of a one-address header value.
func (h *headerTemplate) address(v string) (string, error) {
	v, err := h.check(v)
	if err != nil {
		return "", err
	}
	addrs, err := parseAddresses(h.spec, v)
	if err != nil {
		return "", &FieldError{Header: h.spec.name, Err: err}
	}
	return addrs[0].Address, nil
}

// normalizeBody appends src to dst with every line ending (CRLF, LF or a
// lone CR) made CRLF, and a CRLF after a last line without one. It reports
// whether the body needs quoted-printable: a byte outside ASCII, a NUL, or a
// line over 76 characters.
func normalizeBody(dst, src []byte) ([]byte, bool) {
	// CR and LF are 7-bit and not NUL, so the whole body answers for
	// every line.
	qp := !sevenBit(src)
	for len(src) > 0 {
		end := lineEnd(src)
		line := src[:end]
		qp = qp || len(line) > 76
		dst = append(dst, line...)
		dst = append(dst, '\r', '\n')
		src = src[end:]
		if bytes.HasPrefix(src, []byte("\r\n")) {
			src = src[2:]
		} else if len(src) > 0 {
			src = src[1:]
		}
	}
	return dst, qp
}

// lineEnd is the index of the first CR or LF in b, or len(b). Two
// IndexByte scans (vectorised) beat one IndexAny.
func lineEnd(b []byte) int {
	n := bytes.IndexByte(b, '\n')
	if n < 0 {
		n = len(b)
	}
	if r := bytes.IndexByte(b[:n], '\r'); r >= 0 {
		return r
	}
	return n
}

// sevenBit reports whether b is ASCII without NUL, eight bytes at a time:
// a high bit set, or a zero byte (the classic has-zero-byte test, exact
// once no high bit is set).
func sevenBit(b []byte) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	for len(b) >= 8 {
		x := binary.LittleEndian.Uint64(b)
		if x&hi != 0 || (x-lo)&^x&hi != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c == 0 || c >= 0x80 {
			return false
		}
	}
	return true
}
