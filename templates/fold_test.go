package templates

import (
	"bytes"
	"errors"
	"mime"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

func TestAppendField(t *testing.T) {
	tests := []struct {
		name, value, want string
	}{
		{"Subject", "", "Subject:\r\n"},
		{"Subject", "short", "Subject: short\r\n"},
		// 78 characters exactly stay on one line; one more folds.
		{"X", strings.Repeat("a", 75), "X: " + strings.Repeat("a", 75) + "\r\n"},
		{"X", "b " + strings.Repeat("a", 74), "X: b\r\n " + strings.Repeat("a", 74) + "\r\n"},
		{"X", "a" + strings.Repeat(" bbbbbbbbb", 10), "X: a bbbbbbbbb bbbbbbbbb bbbbbbbbb bbbbbbbbb bbbbbbbbb bbbbbbbbb bbbbbbbbb\r\n bbbbbbbbb bbbbbbbbb bbbbbbbbb\r\n"},
		// Runs of whitespace move to the continuation line whole.
		{"X", strings.Repeat("a", 70) + "  \tb" + strings.Repeat("c", 10), "X: " + strings.Repeat("a", 70) + "\r\n  \tb" + strings.Repeat("c", 10) + "\r\n"},
		// A first word too long for the first line goes on its own line.
		{"Subject", strings.Repeat("e", 75) + " x", "Subject:\r\n " + strings.Repeat("e", 75) + " x\r\n"},
		// Too long for a line of its own too: stays after the name.
		{"X", strings.Repeat("u", 100) + " v", "X: " + strings.Repeat("u", 100) + "\r\n v\r\n"},
		// Within 998 only on a line of its own.
		{"X", strings.Repeat("w", 996), "X:\r\n " + strings.Repeat("w", 996) + "\r\n"},
	}
	for _, tt := range tests {
		got, err := appendField(nil, tt.name, tt.value)
		if err != nil {
			t.Errorf("appendField(%q, %.20q): %v", tt.name, tt.value, err)
			continue
		}
		if string(got) != tt.want {
			t.Errorf("appendField(%q, %.20q):\n got %q\nwant %q", tt.name, tt.value, got, tt.want)
		}
	}
	for _, v := range []string{strings.Repeat("z", 998), "a " + strings.Repeat("z", 998)} {
		if _, err := appendField(nil, "X", v); !errors.Is(err, ErrLineTooLong) {
			t.Errorf("appendField(%d characters): err = %v, want ErrLineTooLong", len(v), err)
		}
	}
}

// TestGoMessageFolding records why appendField exists: go-message's writer
// puts a long encoded Subject on one line past 78 characters (RFC 2047 wants
// 76). If this starts failing, go-message folds well enough to be used.
func TestGoMessageFolding(t *testing.T) {
	var h mail.Header
	h.SetSubject(strings.Repeat("Grüße aus Köln ", 10))
	var buf bytes.Buffer
	if err := textproto.WriteHeader(&buf, h.Header.Header); err != nil {
		t.Fatal(err)
	}
	longest := 0
	for _, l := range strings.Split(buf.String(), "\r\n") {
		longest = max(longest, len(l))
	}
	if longest <= foldLen {
		t.Errorf("go-message now folds encoded subjects within %d characters; appendField may be dropped", foldLen)
	}

	// Ours, for the same value.
	msg, err := mustParse(t, "From: a@example.com\nSubject: {{.s}}\n\n").Render(map[string]string{"s": strings.Repeat("Grüße aus Köln ", 10)}, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range headerLines(msg) {
		if len(l) > foldLen {
			t.Errorf("line of %d characters: %q", len(l), l)
		}
	}
}

func TestSplitEncodedWord(t *testing.T) {
	word := mime.QEncoding.Encode("utf-8", "Grüße aus Köln, Grüße aus Köln")
	if len(word) > 75 || strings.Contains(word, " ") {
		t.Fatalf("test needs one encoded word, have %q", word)
	}
	splits := 0
	for n := 13; n <= len(word); n++ {
		head, tail, ok := splitEncodedWord(word, n)
		if !ok {
			continue
		}
		splits++
		if len(head) > n {
			t.Errorf("n=%d: head %q is %d characters", n, head, len(head))
		}
		var dec mime.WordDecoder
		h, err1 := dec.Decode(head)
		tl, err2 := dec.Decode(tail)
		if err1 != nil || err2 != nil || !utf8.ValidString(h) || !utf8.ValidString(tl) {
			t.Errorf("n=%d: %q %q decode to %q, %q (%v, %v)", n, head, tail, h, tl, err1, err2)
		}
		if h+tl != "Grüße aus Köln, Grüße aus Köln" {
			t.Errorf("n=%d: halves decode to %q + %q", n, h, tl)
		}
	}
	if splits < len(word)-20 {
		t.Errorf("only %d splits of %q", splits, word)
	}
	for _, w := range []string{"plain", "=?utf-8?b?R3L8w59l?=", "=?utf-8?q?=C3?=", "=?utf-8?q?a=ZZb?=", "=?utf-8?q?=C3=BC=C3=BC?="} {
		if head, tail, ok := splitEncodedWord(w, 14); ok {
			t.Errorf("splitEncodedWord(%q) = %q, %q", w, head, tail)
		}
	}
}

// A long encoded Subject starts on the Subject line, every line within 78
// characters, each encoded word whole UTF-8.
func TestRenderEncodedSubjectLines(t *testing.T) {
	tmpl := mustParse(t, "From: a@example.com\nSubject: {{.s}}\n\n")
	for _, s := range []string{
		strings.Repeat("Grüße aus Köln ", 10),
		strings.Repeat("日本語", 40),
		strings.Repeat("🎉", 30),
		"ü" + strings.Repeat("x", 200),
	} {
		msg, err := tmpl.Render(map[string]string{"s": s}, testEnv)
		if err != nil {
			t.Fatal(err)
		}
		lines := headerLines(msg)
		if !strings.HasPrefix(lines[1], "Subject: =?utf-8?q?") {
			t.Errorf("%.20q: Subject line %q", s, lines[1])
		}
		var dec mime.WordDecoder
		for _, l := range lines {
			if len(l) > foldLen {
				t.Errorf("%.20q: line of %d characters: %q", s, len(l), l)
			}
			for _, w := range strings.Fields(l) {
				if !strings.HasPrefix(w, qPrefix) {
					continue
				}
				if d, err := dec.Decode(w); err != nil || !utf8.ValidString(d) {
					t.Errorf("%.20q: encoded word %q decodes to %q, %v", s, w, d, err)
				}
			}
		}
		p := readBack(t, msg, tmpl)
		if got, _ := p.header.Subject(); got != strings.TrimSpace(s) {
			t.Errorf("Subject = %q, want %q", got, s)
		}
	}
}
