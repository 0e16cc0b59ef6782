package feedback

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/mail"
	"slices"
	"strings"
	"time"
)

// Bounds of Parse. Anyone can mail the bounce address, so every size the
// sender controls is capped before it costs memory or time.
const (
	// MaxMessageSize is how much of a message Parse reads. A bounce of a
	// large message returns it whole, after the report: the report and the
	// returned headers come first, so the first 10 MiB are parsed and the
	// rest is never read (Report.Truncated says so).
	MaxMessageSize = 10 << 20
	// MaxRecipientBlocks is how many per-recipient blocks of one
	// delivery-status part become Events; the rest are counted in
	// Report.SkippedBlocks.
	MaxRecipientBlocks = 1000
	// maxHeaderSection bounds the top-level header and the returned
	// message's header (net/mail would otherwise read any number of
	// fields into a map).
	maxHeaderSection = 256 << 10
	// maxDiagnostic caps Event.Diagnostic, in bytes.
	maxDiagnostic = 1000
)

// ErrUnreadable is wrapped by every error Parse returns: the input is not
// a message it can read (empty, binary, a broken header or report).
var ErrUnreadable = errors.New("feedback: unreadable message")

func unreadable(format string, args ...any) (Report, error) {
	return Report{Class: ClassUnreadable}, fmt.Errorf("%w: %s", ErrUnreadable, fmt.Sprintf(format, args...))
}

// Parse reads one message (RFC 5322) and says what it is: a delivery
// status notification (RFC 3464, RFC 6533), a feedback report (RFC 5965),
// an auto-reply (RFC 3834), or anything else. DSNs and ARF reports carry
// Events; the others carry none. It reads at most MaxMessageSize+1 bytes
// of r. The error is non-nil only with ClassUnreadable.
func Parse(r io.Reader) (Report, error) {
	raw, err := readBounded(r)
	if err != nil {
		return unreadable("reading: %v", err)
	}
	truncated := len(raw) > MaxMessageSize
	if truncated {
		raw = raw[:MaxMessageSize]
	}
	rep, err := parseRaw(raw)
	rep.Truncated = truncated
	return rep, err
}

// readBounded reads at most MaxMessageSize+1 bytes of r, into one buffer
// of the right size when r tells its size (a file, a bytes.Reader), to
// spare io.ReadAll's growing copies on a large message.
func readBounded(r io.Reader) ([]byte, error) {
	size := 512
	if n, ok := sizeOf(r); ok {
		size = int(min(n, MaxMessageSize+1)) + 1 // room to see EOF
	}
	buf := make([]byte, 0, size)
	lr := io.LimitReader(r, MaxMessageSize+1)
	for {
		if len(buf) == cap(buf) { // double: 2x the final size in all
			buf = append(make([]byte, 0, min(2*cap(buf), MaxMessageSize+2)), buf...)
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// sizeOf is how many bytes r holds, if it can tell: an upper bound for a
// file read from its middle, which is all readBounded needs.
func sizeOf(r io.Reader) (int64, bool) {
	switch v := r.(type) {
	case interface{ Len() int }:
		return int64(v.Len()), true
	case interface{ Stat() (fs.FileInfo, error) }:
		if fi, err := v.Stat(); err == nil && fi.Mode().IsRegular() {
			return fi.Size(), true
		}
	}
	return 0, false
}

// message is the parsed top level and what every report's Events share.
type message struct {
	raw    []byte
	header mail.Header
	body   io.Reader
	key    string    // hex sha256 of the report's Message-ID, or of raw
	date   time.Time // the report's Date, zero if absent or unparseable
	media  string
	params map[string]string
}

func parseRaw(raw []byte) (Report, error) {
	// An mbox postmark ("From sender date"), left on a message cut from an
	// mbox or saved by a mail client, is no header field.
	if bytes.HasPrefix(raw, []byte("From ")) {
		_, raw, _ = bytes.Cut(raw, []byte("\n"))
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return unreadable("empty input")
	}
	if n := headerSectionLen(raw); n > maxHeaderSection {
		return unreadable("header section longer than %d bytes", maxHeaderSection)
	}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return unreadable("header: %v", err)
	}
	if len(m.Header) == 0 {
		return unreadable("no header fields")
	}
	msg := &message{raw: raw, header: m.Header, body: m.Body}
	msg.key = reportKey(msg)
	msg.date, _ = m.Header.Date()
	return classify(msg)
}

// headerSectionLen is the length of the header section of raw (up to the
// first empty line), or len(raw) if there is none.
func headerSectionLen(raw []byte) int {
	for i := 0; i < len(raw); {
		j := bytes.IndexByte(raw[i:], '\n')
		if j < 0 {
			return len(raw)
		}
		line := raw[i : i+j]
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			return i
		}
		i += j + 1
		if i > maxHeaderSection {
			return i
		}
	}
	return len(raw)
}

// reportKey names the report stably: its Message-ID when it has one (the
// same report fetched twice, or from two copies of a mailbox, is the same
// report), else the bytes themselves.
func reportKey(m *message) string {
	id := strings.TrimSpace(m.header.Get("Message-Id"))
	var sum [32]byte
	if id != "" {
		sum = sha256.Sum256([]byte("message-id\x00" + id))
	} else {
		sum = sha256.Sum256(m.raw)
	}
	return hex.EncodeToString(sum[:])
}

func classify(m *message) (Report, error) {
	ct := m.header.Get("Content-Type")
	if ct != "" {
		media, params, err := mime.ParseMediaType(ct)
		if err == nil {
			m.media, m.params = media, params
		}
	}
	// RFC 6522: a report's multipart/report is the top-level type, so a
	// report forwarded inside another message is not read as one.
	if m.media == "multipart/report" {
		switch strings.ToLower(m.params["report-type"]) {
		case "delivery-status", "global-delivery-status":
			return parseDSN(m)
		case "feedback-report":
			return parseARF(m)
		case "disposition-notification": // RFC 8098 read receipts
			return Report{Class: ClassAutoReply}, nil
		}
	}
	if isAutoReply(m.header) {
		return Report{Class: ClassAutoReply}, nil
	}
	return Report{Class: ClassOther}, nil
}

// isAutoReply follows RFC 3834 and the markers that vacation programs
// and Exchange use in its place.
func isAutoReply(h mail.Header) bool {
	if v := firstWord(h.Get("Auto-Submitted")); v != "" && v != "no" {
		return true
	}
	if h.Get("X-Autoreply") != "" || h.Get("X-Autorespond") != "" {
		return true
	}
	if firstWord(h.Get("Precedence")) == "auto_reply" {
		return true
	}
	subject := strings.ToLower(strings.TrimSpace(h.Get("Subject")))
	return strings.HasPrefix(subject, "automatic reply:") || strings.HasPrefix(subject, "out of office")
}

// firstWord is the lower-cased first word of a field value, before any
// comment or parameter ("auto-replied; owner-email=..." is "auto-replied").
func firstWord(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexAny(v, " \t;("); i >= 0 {
		v = v[:i]
	}
	return strings.ToLower(v)
}

// reportEventKey is the Key of the n-th event of one report: the report's own
// key, and the fields the event was read from, so that nobody can spend
// the Key of a genuine report in advance with a forged one that copies
// only its (guessable) Message-ID.
func reportEventKey(kind string, m *message, n int, fields ...fieldGroup) string {
	h := sha256.New()
	h.Write([]byte(m.key))
	for _, g := range fields {
		names := make([]string, 0, len(g))
		for k := range g {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			fmt.Fprintf(h, "\x00%s\x00%s", k, g[k])
		}
		h.Write([]byte{1})
	}
	return fmt.Sprintf("%s:%x:%d", kind, h.Sum(nil), n)
}
