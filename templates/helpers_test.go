package templates

import (
	"bytes"
	"io"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
)

var testEnv = Envelope{
	To:        "rcpt@example.net",
	MessageID: "20250102030405.1@acme.example",
	Date:      time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("", 3600)),
}

// builderHeaders are the fields Render adds to those of the template.
var builderHeaders = []string{"To", "Date", "Message-ID", "MIME-Version", "Content-Type", "Content-Transfer-Encoding"}

// parsed is a message read back with go-message.
type parsed struct {
	header mail.Header
	body   string // decoded
	count  map[string]int
}

// readBack parses msg with go-message and checks what holds for every
// message: CRLF line endings, lines within 998 characters, From, To,
// Subject, Date and Message-ID exactly once, and no field other than those
// of the template and the builder.
func readBack(t testing.TB, msg []byte, tmpl *Template) parsed {
	t.Helper()
	checkLines(t, msg)
	r, err := mail.CreateReader(bytes.NewReader(msg))
	if err != nil {
		t.Fatalf("reading message back: %v\n%s", err, msg)
	}
	p := parsed{header: r.Header, count: make(map[string]int)}
	allowed := make(map[string]bool)
	for _, h := range tmpl.headers {
		allowed[textproto.CanonicalMIMEHeaderKey(h.spec.name)] = true
	}
	for _, k := range builderHeaders {
		allowed[textproto.CanonicalMIMEHeaderKey(k)] = true
	}
	for f := r.Header.Fields(); f.Next(); {
		k := textproto.CanonicalMIMEHeaderKey(f.Key())
		p.count[k]++
		if !allowed[k] && !tmpl.HasHeader(k) {
			t.Errorf("unexpected header field %q in\n%s", f.Key(), msg)
		}
	}
	for _, k := range []string{"From", "To", "Subject", "Date", "Message-Id"} {
		if p.count[k] != 1 {
			t.Errorf("%s appears %d times, want 1, in\n%s", k, p.count[k], msg)
		}
	}
	part, err := r.NextPart()
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	body, err := io.ReadAll(part.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	p.body = string(body)
	return p
}

// checkLines checks that every line ends in CRLF and has at most 998
// characters.
func checkLines(t testing.TB, msg []byte) {
	t.Helper()
	if len(msg) > 0 && !bytes.HasSuffix(msg, []byte("\r\n")) {
		t.Errorf("message does not end in CRLF")
	}
	for i, line := range bytes.SplitAfter(msg, []byte("\r\n")) {
		content := bytes.TrimSuffix(line, []byte("\r\n"))
		if bytes.ContainsAny(content, "\r\n") {
			t.Errorf("line %d has a bare CR or LF: %q", i+1, line)
		}
		if len(content) > maxLineLen {
			t.Errorf("line %d has %d characters", i+1, len(content))
		}
	}
}

// headerLines returns the lines of the header section of msg.
func headerLines(msg []byte) []string {
	head, _, _ := strings.Cut(string(msg), "\r\n\r\n")
	return strings.Split(head, "\r\n")
}

// crlf turns LF line endings into CRLF.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

func mustParse(t testing.TB, src string) *Template {
	t.Helper()
	tmpl, err := Parse("test.tmpl", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return tmpl
}
