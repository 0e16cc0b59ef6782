package templates

import (
	"bytes"
	"errors"
	"io"
	"net/textproto"
	"strings"
	"testing"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
)

// mimePart is a part of a message read back with go-message.
type mimePart struct {
	header   message.Header
	typ      string // media type, lower case
	params   map[string]string
	encoding string // Content-Transfer-Encoding
	body     []byte // decoded; empty for a multipart
	kids     []*mimePart
}

// shape is the tree of media types, e.g.
// "multipart/mixed(multipart/alternative(text/plain,text/html),application/pdf)".
func (p *mimePart) shape() string {
	if len(p.kids) == 0 {
		return p.typ
	}
	var kids []string
	for _, k := range p.kids {
		kids = append(kids, k.shape())
	}
	return p.typ + "(" + strings.Join(kids, ",") + ")"
}

// leaves returns the parts that are not multipart, depth first.
func (p *mimePart) leaves() []*mimePart {
	if !strings.HasPrefix(p.typ, "multipart/") {
		return []*mimePart{p}
	}
	var l []*mimePart
	for _, k := range p.kids {
		l = append(l, k.leaves()...)
	}
	return l
}

// find returns the first leaf of media type typ, or nil.
func (p *mimePart) find(typ string) *mimePart {
	for _, l := range p.leaves() {
		if l.typ == typ {
			return l
		}
	}
	return nil
}

// readTree parses msg with go-message and returns its MIME tree. It checks
// what holds for every message: CRLF line endings and lines within 998
// characters; From, To, Subject, Date, Message-ID and MIME-Version exactly
// once; every leaf quoted-printable, base64 or (alone) 7bit; no
// Content-Transfer-Encoding on a multipart; each boundary on exactly the
// lines that delimit its parts. It also walks the message with mail.CreateReader, as a mail
// client would, and checks that it finds the same leaves.
func readTree(t testing.TB, msg []byte) *mimePart {
	t.Helper()
	checkLines(t, msg)
	e, err := message.Read(bytes.NewReader(msg))
	if err != nil {
		t.Fatalf("reading message back: %v\n%s", err, msg)
	}
	count := make(map[string]int)
	for f := e.Header.Fields(); f.Next(); {
		count[textproto.CanonicalMIMEHeaderKey(f.Key())]++
	}
	for _, k := range []string{"From", "To", "Subject", "Date", "Message-Id", "Mime-Version"} {
		if count[k] != 1 {
			t.Errorf("%s appears %d times, want 1, in\n%s", k, count[k], msg)
		}
	}
	root := readEntity(t, e, true)
	checkBoundaries(t, msg, root)
	checkMailReader(t, msg, root)
	return root
}

// checkBoundaries checks that each boundary delimits exactly the parts
// go-message found: no body line was taken for one.
func checkBoundaries(t testing.TB, msg []byte, p *mimePart) {
	t.Helper()
	if len(p.kids) == 0 {
		return
	}
	b := "--" + p.params["boundary"]
	lines := 0
	for _, l := range strings.Split(string(msg), "\r\n") {
		if l == b || l == b+"--" {
			lines++
		}
	}
	if lines != len(p.kids)+1 {
		t.Errorf("boundary %q on %d lines, want %d", b, lines, len(p.kids)+1)
	}
	for _, k := range p.kids {
		checkBoundaries(t, msg, k)
	}
}

func readEntity(t testing.TB, e *message.Entity, top bool) *mimePart {
	t.Helper()
	typ, params, err := e.Header.ContentType()
	if err != nil {
		t.Fatalf("Content-Type %q: %v", e.Header.Get("Content-Type"), err)
	}
	p := &mimePart{header: e.Header, typ: strings.ToLower(typ), params: params, encoding: e.Header.Get("Content-Transfer-Encoding")}
	if mr := e.MultipartReader(); mr != nil {
		if p.encoding != "" {
			t.Errorf("%s with Content-Transfer-Encoding %q", typ, p.encoding)
		}
		for {
			k, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("reading a part of %s: %v", typ, err)
			}
			p.kids = append(p.kids, readEntity(t, k, false))
		}
		if len(p.kids) == 0 {
			t.Errorf("%s without parts", typ)
		}
		return p
	}
	switch {
	case p.encoding == "quoted-printable" || p.encoding == "base64":
	case p.encoding == "7bit" && top:
	default:
		t.Errorf("part %s has Content-Transfer-Encoding %q", typ, p.encoding)
	}
	if p.body, err = io.ReadAll(e.Body); err != nil {
		t.Fatalf("reading %s: %v", typ, err)
	}
	return p
}

// checkMailReader reads msg as a mail client would and checks that it
// finds the leaves of root: the text and HTML bodies and inline images as
// inline parts, the other files as attachments with their file names.
func checkMailReader(t testing.TB, msg []byte, root *mimePart) {
	t.Helper()
	r, err := mail.CreateReader(bytes.NewReader(msg))
	if err != nil {
		t.Fatalf("mail.CreateReader: %v", err)
	}
	leaves := root.leaves()
	for i := 0; ; i++ {
		part, err := r.NextPart()
		if errors.Is(err, io.EOF) {
			if i != len(leaves) {
				t.Errorf("mail.Reader found %d parts, the tree has %d leaves", i, len(leaves))
			}
			return
		}
		if err != nil {
			t.Fatalf("mail.Reader part %d: %v", i, err)
		}
		if i >= len(leaves) {
			t.Fatalf("mail.Reader found more parts than the tree has leaves")
		}
		want := leaves[i]
		body, err := io.ReadAll(part.Body)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(body, want.body) {
			t.Errorf("part %d: mail.Reader and message.Read decode different bodies", i)
		}
		disp, _, _ := want.header.ContentDisposition()
		switch h := part.Header.(type) {
		case *mail.InlineHeader:
			if disp == "attachment" {
				t.Errorf("part %d (%s): an attachment read as inline", i, want.typ)
			}
		case *mail.AttachmentHeader:
			if disp != "attachment" {
				t.Errorf("part %d (%s): disposition %q read as an attachment", i, want.typ, disp)
			}
			if name, err := h.Filename(); err != nil || name == "" {
				t.Errorf("part %d: attachment file name %q, %v", i, name, err)
			}
		}
	}
}

// topFields returns the canonical names of the top-level header fields,
// with their counts.
func topFields(t testing.TB, msg []byte) map[string]int {
	t.Helper()
	e, err := message.Read(bytes.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	count := make(map[string]int)
	for f := e.Header.Fields(); f.Next(); {
		count[textproto.CanonicalMIMEHeaderKey(f.Key())]++
	}
	return count
}
