package templates

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"no From", "Subject: s\n\nbody\n", "test.tmpl:2: missing From header"},
		{"no Subject", "From: a@example.com\n\nbody\n", "test.tmpl:2: missing Subject header"},
		{"empty file", "", "test.tmpl:1: missing blank line between header and body"},
		{"no blank line", "From: a@example.com\nSubject: s\n", "test.tmpl:3: missing blank line"},
		{"no colon", "From: a@example.com\nSubject s\n\n", `test.tmpl:2: want a "Name: value" header line`},
		{"body without blank line", "From: a@example.com\nSubject: s\nDear Ada,\n\n", `test.tmpl:3: want a "Name: value"`},
		{"space in name", "From: a@example.com\nSubject : s\n\n", `test.tmpl:2: invalid header name "Subject "`},
		{"non-ASCII name", "From: a@example.com\nSubjéct: s\n\n", `test.tmpl:2: invalid header name "Subjéct"`},
		{"empty name", "From: a@example.com\n: s\n\n", `test.tmpl:2: invalid header name ""`},
		{"leading continuation", " From: a@example.com\nSubject: s\n\n", "test.tmpl:1: continuation line before the first header"},
		{"duplicate Subject", "From: a@example.com\nSubject: a\nX-A: 1\nsubject: b\n\n", "test.tmpl:4: Subject header repeated (first on line 2)"},
		{"duplicate From", "From: a@example.com\nFROM: b@example.com\nSubject: s\n\n", "test.tmpl:2: From header repeated"},
		{"duplicate To", "From: a@example.com\nTo: a@example.com\nTo: b@example.com\nSubject: s\n\n", "test.tmpl:3: To header repeated"},
		{"duplicate Reply-To", "From: a@example.com\nReply-To: a@example.com\nReply-to: b@example.com\nSubject: s\n\n", "test.tmpl:3: Reply-To header repeated"},
		{"duplicate Sender", "From: a@example.com\nSender: a@example.com\nSender: b@example.com\nSubject: s\n\n", "test.tmpl:3: Sender header repeated"},
		{"Date", "From: a@example.com\nSubject: s\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n\n", "test.tmpl:3: Date is written by the message builder"},
		{"Message-ID", "From: a@example.com\nSubject: s\nMessage-Id: <a@b>\n\n", "test.tmpl:3: Message-ID is written by the message builder"},
		{"MIME-Version", "From: a@example.com\nSubject: s\nMime-Version: 1.0\n\n", "test.tmpl:3: MIME-Version is written by the message builder"},
		{"Content-Type", "From: a@example.com\nSubject: s\ncontent-type: text/html\n\n", "test.tmpl:3: Content-Type is written by the message builder"},
		{"Content-Transfer-Encoding", "Content-Transfer-Encoding: 8bit\nFrom: a@example.com\nSubject: s\n\n", "test.tmpl:1: Content-Transfer-Encoding is written by the message builder"},
		{"Bcc", "From: a@example.com\nSubject: s\nBcc: x@example.com\n\n", "test.tmpl:3: Bcc is not supported"},
		{"DKIM-Signature", "From: a@example.com\nSubject: s\nDKIM-Signature: v=1\n\n", "test.tmpl:3: DKIM-Signature is added by DKIM signing"},
		{"Content-Disposition", "From: a@example.com\nSubject: s\nContent-Disposition: inline\n\n", "test.tmpl:3: Content-Disposition is written by the message builder"},
		{"Content-ID", "From: a@example.com\nSubject: s\nContent-Id: <a@b>\n\n", "test.tmpl:3: Content-ID is written by the message builder"},
		{"duplicate List-Unsubscribe", "From: a@example.com\nSubject: s\nList-Unsubscribe: <https://a.example/1>\nList-Unsubscribe: <https://a.example/2>\n\n", "test.tmpl:4: List-Unsubscribe header repeated"},
		{"duplicate Feedback-ID", "From: a@example.com\nSubject: s\nFeedback-ID: a:b\nFeedback-Id: c:d\n\n", "test.tmpl:4: Feedback-ID header repeated"},
		{"header syntax", "From: a@example.com\nSubject: {{.x\n\n", "test.tmpl:2: unclosed action"},
		{"header function", "From: a@example.com\nX-A: b\nSubject: {{nope .x}}\n\n", `test.tmpl:3: function "nope" not defined`},
		{"body syntax", "From: a@example.com\nSubject: s\n\nline 4\nline 5 {{if}}\n", "test.tmpl:5: missing value for if"},
		{"body after continuation", "From: a@example.com\nSubject: s\n  more\n\n{{end}}\n", "test.tmpl:5: unexpected {{end}}"},
		{"constant bad From", "From: not an address\nSubject: s\n\n", `test.tmpl:1: header "From": bad address`},
		{"constant two From", "From: a@example.com, b@example.com\nSubject: s\n\n", `test.tmpl:1: header "From": bad address: want one address, have 2`},
		{"constant empty From", "From:\nSubject: s\n\n", `test.tmpl:1: header "From": bad address: empty`},
		{"invalid UTF-8", "From: a@example.com\nSubject: s\n\ncaf\xe9\n", "test.tmpl:4: not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("test.tmpl", []byte(tt.src))
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error:\n got %q\nwant %q...", err, tt.want)
			}
		})
	}
}

func TestParseConstantFieldError(t *testing.T) {
	_, err := Parse("test.tmpl", []byte("From: nobody\nSubject: s\n\n"))
	if !errors.Is(err, ErrBadAddress) {
		t.Errorf("err = %v, want ErrBadAddress", err)
	}
}

func TestParseAccepts(t *testing.T) {
	tests := []struct {
		name, src string
		subject   string // rendered, decoded
		body      string // rendered
	}{
		{"CRLF and BOM", "\uFEFFFrom: a@example.com\r\nSubject: s {{.x}}\r\n\r\nline\r\n", "s X", "line\r\n"},
		{"continuation lines", "From: a@example.com\nSubject: one\n  two\n\tthree\n\nb\n", "one two three", "b\r\n"},
		{"whitespace-only separator", "From: a@example.com\nSubject: s\n \t\nb\n", "s", "b\r\n"},
		{"repeated custom header", "From: a@example.com\nSubject: s\nX-Tag: a\nx-tag: b\n\n", "s", ""},
		{"colon in value", "From: a@example.com\nSubject: re: {{.x}}: yes\n\n", "re: X: yes", ""},
		{"empty body", "From: a@example.com\nSubject: s\n\n", "s", ""},
		{"blank lines in body", "From: a@example.com\nSubject: s\n\n\n\nb\n\n", "s", "\r\n\r\nb\r\n\r\n"},
		{"action across a continuation", "From: a@example.com\nSubject: {{default\n  \"none\" .x}}\n\n", "X", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl := mustParse(t, tt.src)
			msg, err := tmpl.Render(map[string]string{"x": "X"}, testEnv)
			if err != nil {
				t.Fatal(err)
			}
			p := readBack(t, msg, tmpl)
			if got, _ := p.header.Subject(); got != tt.subject {
				t.Errorf("Subject = %q, want %q", got, tt.subject)
			}
			if p.body != tt.body {
				t.Errorf("body = %q, want %q", p.body, tt.body)
			}
		})
	}
}

func TestParseFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "welcome.tmpl")
	if err := os.WriteFile(path, []byte("From: a@example.com\nSubject: {{.x\n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ParseFile(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+":2: ") {
		t.Errorf("err = %v, want it to start with %s:2:", err, path)
	}
	if _, err := ParseFile(filepath.Join(t.TempDir(), "missing.tmpl")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v", err)
	}
}

func TestHasHeader(t *testing.T) {
	tmpl := mustParse(t, "From: a@example.com\nSubject: s\nlist-unsubscribe: <https://x.example/u>\n\n")
	for name, want := range map[string]bool{
		"From": true, "from": true, "SUBJECT": true, "List-Unsubscribe": true,
		"To": false, "Date": false, "Message-ID": false,
	} {
		if got := tmpl.HasHeader(name); got != want {
			t.Errorf("HasHeader(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestFields(t *testing.T) {
	tmpl := mustParse(t, `From: {{.from_name}} <a@example.com>
Subject: {{default "you" .first_name | title}} {{$.plan}}
X-Id: {{index . "Customer ID"}}

{{if .vip}}VIP {{end}}{{with .city}}{{.}}{{end}}{{range .x}}{{.inner}}{{end}}
`)
	want := []string{"Customer ID", "city", "first_name", "from_name", "plan", "vip", "x"}
	if got := tmpl.Fields(); !slices.Equal(got, want) {
		t.Errorf("Fields() = %q, want %q", got, want)
	}
}
