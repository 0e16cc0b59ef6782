package templates

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"
)

const injectionTemplate = `From: {{.name}} <news@acme.example>
Subject: Hello {{.subject}}
X-Note: {{.note}}

Body for {{.name}}.
`

func TestRenderRefusesLineBreaks(t *testing.T) {
	tmpl := mustParse(t, injectionTemplate)
	clean := map[string]string{"name": "Acme", "subject": "there", "note": "fine"}
	if _, err := tmpl.Render(clean, testEnv); err != nil {
		t.Fatalf("clean data: %v", err)
	}
	for _, field := range []struct{ key, header string }{
		{"subject", "Subject"},
		{"name", "From"},
		{"note", "X-Note"},
	} {
		for _, evil := range []string{
			"x\r\nBcc: victim@evil.example",
			"x\nBcc: victim@evil.example",
			"x\rBcc: victim@evil.example",
			"x\r\n\r\nfake body",
			"x\x00y",
			"x\r\n",
			"\nBcc: victim@evil.example",
		} {
			data := map[string]string{"name": "Acme", "subject": "there", "note": "fine"}
			data[field.key] = evil
			msg, err := tmpl.Render(data, testEnv)
			var fe *FieldError
			if !errors.As(err, &fe) || !errors.Is(err, ErrLineBreak) {
				t.Errorf("%s=%q: err = %v, want a FieldError wrapping ErrLineBreak", field.key, evil, err)
				continue
			}
			if fe.Header != field.header {
				t.Errorf("%s=%q: FieldError.Header = %q, want %q", field.key, evil, fe.Header, field.header)
			}
			if msg != nil {
				t.Errorf("%s=%q: Render returned a message with its error", field.key, evil)
			}
		}
	}
}

func TestFieldErrorMessage(t *testing.T) {
	tmpl := mustParse(t, injectionTemplate)
	_, err := tmpl.Render(map[string]string{"name": "A", "subject": "a\r\nBcc: x@evil", "note": ""}, testEnv)
	if got, want := fmt.Sprint(err), `header "Subject": value contains a line break`; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
	_, err = tmpl.Render(map[string]string{"name": "A", "subject": "a\x00", "note": ""}, testEnv)
	if got, want := fmt.Sprint(err), `header "Subject": value contains a NUL byte`; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
}

// An encoded word that decodes to a line break stays inside its field.
func TestRenderEncodedLineBreakStaysEncoded(t *testing.T) {
	tmpl := mustParse(t, injectionTemplate)
	data := map[string]string{
		"name":    "=?utf-8?q?x=0D=0ABcc=3A_victim=40evil.example?=",
		"subject": "=?utf-8?q?x=0D=0ABcc:_victim@evil.example?=",
		"note":    "=?utf-8?q?x=0D=0ABcc:_victim@evil.example?=",
	}
	msg, err := tmpl.Render(data, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	p := readBack(t, msg, tmpl)
	if p.count["Bcc"] != 0 {
		t.Errorf("Bcc header in\n%s", msg)
	}
}

func TestRenderBadAddress(t *testing.T) {
	tests := []struct {
		name, tmpl string
		data       map[string]string
		header     string
	}{
		{"not an address", "From: {{.from}}\nSubject: s\n\n", map[string]string{"from": "not an address"}, "From"},
		{"two From addresses", "From: {{.from}}\nSubject: s\n\n", map[string]string{"from": "a@example.com, b@example.com"}, "From"},
		{"empty From", "From: {{.from}}\nSubject: s\n\n", map[string]string{"from": ""}, "From"},
		{"empty To", "From: a@example.com\nTo: {{.to}}\nSubject: s\n\n", map[string]string{"to": " "}, "To"},
		{"bad Reply-To", "From: a@example.com\nReply-To: {{.r}}\nSubject: s\n\n", map[string]string{"r": "x@"}, "Reply-To"},
		{"bad Cc", "From: a@example.com\nCc: {{.r}}\nSubject: s\n\n", map[string]string{"r": "<x@example.com"}, "Cc"},
		{"control character in name", "From: {{.n}} <a@example.com>\nSubject: s\n\n", map[string]string{"n": "a\x1bb"}, "From"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mustParse(t, tt.tmpl).Render(tt.data, testEnv)
			var fe *FieldError
			if !errors.As(err, &fe) || !errors.Is(err, ErrBadAddress) || fe.Header != tt.header {
				t.Errorf("err = %v, want a FieldError for %s wrapping ErrBadAddress", err, tt.header)
			}
		})
	}
}

func TestRenderEnvelopeTo(t *testing.T) {
	tmpl := mustParse(t, "From: a@example.com\nSubject: s\n\nbody\n")
	env := testEnv
	env.To = "Ada Lovelace <ada@example.net>"
	msg, err := tmpl.Render(nil, env)
	if err != nil {
		t.Fatal(err)
	}
	p := readBack(t, msg, tmpl)
	if got := p.header.Get("To"); got != `"Ada Lovelace" <ada@example.net>` {
		t.Errorf("To = %q", got)
	}

	for _, bad := range []string{"", "nobody", "a@example.com\r\nBcc: x@evil.example"} {
		env.To = bad
		_, err := tmpl.Render(nil, env)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Header != "To" {
			t.Errorf("Envelope.To %q: err = %v, want a FieldError for To", bad, err)
		}
	}

	// A template's To must name the recipient: one naming someone else
	// would show each recipient another person's address as theirs.
	tmpl = mustParse(t, "From: a@example.com\nTo: {{.name}} <{{.email}}>\nSubject: s\n\nbody\n")
	env.To = "other@example.net"
	var fe *FieldError
	if _, err := tmpl.Render(map[string]string{"name": "Bob", "email": "bob@example.net"}, env); !errors.As(err, &fe) || fe.Header != "To" {
		t.Errorf("To naming bob@ for a message to other@: err = %v, want a FieldError for To", err)
	}
	// Nor by naming the recipient only in a display name or a comment, or
	// beside someone else.
	for _, to := range []string{`"{{.email}}" <boss@evil.example>`, `{{.name}} <{{.email}}>, boss@evil.example`,
		`boss@evil.example (<{{.email}}>)`} {
		bad := mustParse(t, "From: a@example.com\nTo: "+to+"\nSubject: s\n\nbody\n")
		env.To = "bob@example.net"
		if _, err := bad.Render(map[string]string{"name": "Bob", "email": "bob@example.net"}, env); !errors.As(err, &fe) || fe.Header != "To" {
			t.Errorf("To: %s: err = %v, want a FieldError for To", to, err)
		}
	}
	env.To = "Bob@example.net"
	msg, err = tmpl.Render(map[string]string{"name": "Bob", "email": "bob@example.net"}, env)
	if err != nil {
		t.Fatal(err)
	}
	p = readBack(t, msg, tmpl)
	if got := p.header.Get("To"); got != `"Bob" <bob@example.net>` {
		t.Errorf("To = %q", got)
	}
}

func TestRenderHeaderOrder(t *testing.T) {
	tmpl := mustParse(t, "Subject: s\nX-A: 1\nFrom: a@example.com\nX-A: 2\n\nbody\n")
	msg, err := tmpl.Render(nil, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range headerLines(msg) {
		k, _, _ := strings.Cut(l, ":")
		names = append(names, k)
	}
	want := "Subject X-A From X-A To Date Message-ID MIME-Version Content-Type Content-Transfer-Encoding"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("header order:\n got %s\nwant %s", got, want)
	}
}

func TestRenderMissingKey(t *testing.T) {
	tmpl := mustParse(t, "From: a@example.com\nSubject: Hi {{.frist_name}}\n\nbody\n")
	_, err := tmpl.Render(map[string]string{"first_name": "Ada"}, testEnv)
	var ee template.ExecError
	if !errors.As(err, &ee) {
		t.Fatalf("err = %v, want a template.ExecError", err)
	}
	for _, want := range []string{`header "Subject"`, "test.tmpl:2:", `"frist_name"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}

	tmpl = mustParse(t, "From: a@example.com\nSubject: s\n\nline 4\nHi {{.frist_name}}\n")
	_, err = tmpl.Render(map[string]string{"first_name": "Ada"}, testEnv)
	for _, want := range []string{"body: ", "test.tmpl:5:", `"frist_name"`} {
		if !strings.Contains(fmt.Sprint(err), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if _, err := tmpl.Render(nil, testEnv); err == nil {
		t.Errorf("nil data: no error")
	}
}

func TestRenderNonASCIISubject(t *testing.T) {
	tmpl := mustParse(t, "From: a@example.com\nSubject: {{.s}}\n\nbody\n")
	for _, s := range []string{
		"Grüße aus Köln",
		"日本語の件名です",
		"emoji 🎉 party",
		strings.Repeat("Ünïcödé wörds ", 20),
		strings.Repeat("é", 300),
		"under_score ?= and =? marks",
	} {
		msg, err := tmpl.Render(map[string]string{"s": s}, testEnv)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		p := readBack(t, msg, tmpl)
		got, err := p.header.Subject()
		if err != nil {
			t.Fatalf("%q: decoding Subject: %v", s, err)
		}
		if want := trimWSP(s); got != want {
			t.Errorf("Subject decodes to %q, want %q\n%s", got, want, msg)
		}
		for _, l := range headerLines(msg) {
			if len(l) > foldLen {
				t.Errorf("%q: header line of %d characters: %q", s, len(l), l)
			}
		}
	}
}

func TestRenderLongSubjectFolded(t *testing.T) {
	tmpl := mustParse(t, "From: a@example.com\nSubject: {{.s}}\n\nbody\n")
	s := strings.TrimSpace(strings.Repeat("a fairly long subject ", 30))
	msg, err := tmpl.Render(map[string]string{"s": s}, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	lines := headerLines(msg)
	if !strings.HasPrefix(lines[1], "Subject: a fairly") || !strings.HasPrefix(lines[2], " ") {
		t.Errorf("Subject not folded:\n%s", msg)
	}
	for _, l := range lines {
		if len(l) > foldLen {
			t.Errorf("line of %d characters: %q", len(l), l)
		}
	}
	p := readBack(t, msg, tmpl)
	if got, _ := p.header.Subject(); got != s {
		t.Errorf("Subject = %q, want %q", got, s)
	}
}

func TestRenderVeryLongWords(t *testing.T) {
	tmpl := mustParse(t, "From: a@example.com\nSubject: {{.s}}\nX-Token: {{.s}}\n\n{{.s}}\n")

	// A word that fits in 998 characters goes on a line of its own.
	word := strings.Repeat("x", 990)
	msg, err := tmpl.Render(map[string]string{"s": word}, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	p := readBack(t, msg, tmpl)
	if got, _ := p.header.Subject(); got != word {
		t.Errorf("Subject changed")
	}
	if got := p.header.Get("X-Token"); got != word {
		t.Errorf("X-Token changed")
	}
	if p.body != word+"\r\n" {
		t.Errorf("body changed")
	}

	// A longer one cannot be written.
	_, err = tmpl.Render(map[string]string{"s": strings.Repeat("x", 1000)}, testEnv)
	var fe *FieldError
	if !errors.As(err, &fe) || !errors.Is(err, ErrLineTooLong) || fe.Header != "Subject" {
		t.Errorf("err = %v, want a FieldError for Subject wrapping ErrLineTooLong", err)
	}
}

func TestRenderBodyEncoding(t *testing.T) {
	tmpl := mustParse(t, "From: a@example.com\nSubject: s\n\n{{.b}}")
	tests := []struct {
		body, cte string
	}{
		{"plain ASCII\nlines\n", "7bit"},
		{"", "7bit"},
		{strings.Repeat("x", 76) + "\n", "7bit"},
		{strings.Repeat("x", 77) + "\n", "quoted-printable"},
		{"ünïcode\n", "quoted-printable"},
		{"nul \x00 byte\n", "quoted-printable"},
		{"bare CR\rand CRLF\r\nand LF\n", "7bit"},
		{strings.Repeat("y", 5000), "quoted-printable"},
		{"trailing space \nand tab\t\n", "7bit"},
		{".\n.. leading dots\nFrom the start\n", "7bit"},
	}
	for _, tt := range tests {
		msg, err := tmpl.Render(map[string]string{"b": tt.body}, testEnv)
		if err != nil {
			t.Fatal(err)
		}
		p := readBack(t, msg, tmpl)
		if got := p.header.Get("Content-Transfer-Encoding"); got != tt.cte {
			t.Errorf("%.20q: Content-Transfer-Encoding %q, want %q", tt.body, got, tt.cte)
		}
		want := strings.NewReplacer("\r\n", "\r\n", "\r", "\r\n", "\n", "\r\n").Replace(tt.body)
		if want != "" && !strings.HasSuffix(want, "\r\n") {
			want += "\r\n" // the builder ends the last line
		}
		if p.body != want {
			t.Errorf("%.20q: decoded body %q, want %q", tt.body, p.body, want)
		}
		_, body, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
		for _, l := range bytes.Split(body, []byte("\r\n")) {
			if len(l) > 76 {
				t.Errorf("%.20q: body line of %d characters", tt.body, len(l))
			}
		}
	}
}

func TestRenderMessageID(t *testing.T) {
	tmpl := mustParse(t, "From: a@example.com\nSubject: s\n\n")
	for _, id := range []string{"", "noat", "@right", "left@", "<a@b>", "a b@c", "a@b\r\nBcc: x@evil", strings.Repeat("a", 990) + "@b"} {
		env := testEnv
		env.MessageID = id
		_, err := tmpl.Render(nil, env)
		if !errors.Is(err, ErrBadMessageID) {
			t.Errorf("MessageID %.30q: err = %v, want ErrBadMessageID", id, err)
		}
	}
}

func TestRenderZeroDate(t *testing.T) {
	tmpl := mustParse(t, "From: a@example.com\nSubject: s\n\n")
	env := testEnv
	env.Date = time.Time{}
	before := time.Now().Add(-time.Second)
	msg, err := tmpl.Render(nil, env)
	if err != nil {
		t.Fatal(err)
	}
	p := readBack(t, msg, tmpl)
	d, err := p.header.Date()
	if err != nil || d.Before(before) || d.After(time.Now().Add(time.Second)) {
		t.Errorf("Date = %v, %v; want about now", d, err)
	}
}

func TestRenderHeaderTrimAndOmit(t *testing.T) {
	tmpl := mustParse(t, "From: a@example.com\nSubject: {{.s}}\nReply-To: {{.r}}\nX-Empty: {{.e}}\n\n")
	msg, err := tmpl.Render(map[string]string{"s": "  padded\t", "r": "", "e": " "}, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	p := readBack(t, msg, tmpl)
	if got, _ := p.header.Subject(); got != "padded" {
		t.Errorf("Subject = %q", got)
	}
	if p.count["Reply-To"] != 0 || p.count["X-Empty"] != 0 {
		t.Errorf("empty optional fields written:\n%s", msg)
	}

	msg, err = tmpl.Render(map[string]string{"s": "", "r": "", "e": ""}, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(msg, []byte("\r\nSubject:\r\n")) {
		t.Errorf("empty Subject not written:\n%s", msg)
	}
}

func TestFromAddress(t *testing.T) {
	tmpl := mustParse(t, "From: Acme <news@acme.example>\nSubject: s\n\n")
	if got, err := tmpl.FromAddress(nil); err != nil || got != "news@acme.example" {
		t.Errorf("constant From: %q, %v", got, err)
	}
	tmpl = mustParse(t, "From: {{.name}} <{{.box}}@acme.example>\nSubject: s\n\n")
	if got, err := tmpl.FromAddress(map[string]string{"name": "Zoë", "box": "sales"}); err != nil || got != "sales@acme.example" {
		t.Errorf("templated From: %q, %v", got, err)
	}
	_, err := tmpl.FromAddress(map[string]string{"name": "x\r\nBcc: y@evil", "box": "sales"})
	if !errors.Is(err, ErrLineBreak) {
		t.Errorf("From with CRLF: err = %v", err)
	}
	_, err = tmpl.FromAddress(map[string]string{"name": "x", "box": "a b"})
	if !errors.Is(err, ErrBadAddress) {
		t.Errorf("bad From: err = %v", err)
	}
	if _, err = tmpl.FromAddress(map[string]string{"name": "x"}); err == nil || !strings.Contains(err.Error(), `header "From"`) {
		t.Errorf("missing key: err = %v", err)
	}
}

func TestAppendRender(t *testing.T) {
	tmpl := mustParse(t, injectionTemplate)
	data := map[string]string{"name": "Ada", "subject": "s", "note": "n"}
	want, err := tmpl.Render(data, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tmpl.AppendRender([]byte("prefix"), data, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "prefix"+string(want) {
		t.Errorf("AppendRender = %q, want prefix + %q", got, want)
	}
	data["subject"] = "\n"
	got, err = tmpl.AppendRender([]byte("prefix"), data, testEnv)
	if err == nil || string(got) != "prefix" {
		t.Errorf("AppendRender on error = %q, %v", got, err)
	}
}

// Render is safe for concurrent use (run with -race) and pooled buffers do
// not leak between messages.
func TestRenderConcurrent(t *testing.T) {
	tmpl := mustParse(t, "From: {{.n}} <a@example.com>\nSubject: Hi {{.n}}\n\n{{.n}} {{.n}}\n")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				n := fmt.Sprintf("n%d-%d", g, i)
				if i%3 == 0 {
					n += strings.Repeat("é", i)
				}
				msg, err := tmpl.Render(map[string]string{"n": n}, testEnv)
				if err != nil {
					t.Error(err)
					return
				}
				p := readBack(t, msg, tmpl)
				if p.body != n+" "+n+"\r\n" {
					t.Errorf("body %q for %q", p.body, n)
					return
				}
			}
		})
	}
	wg.Wait()
}

// The fast path and text/template give the same output.
func TestFastPathMatchesTextTemplate(t *testing.T) {
	src := "From: a@example.com\nSubject: {{.a}}-{{ .b }}-{{- .a -}} x\n\n{{.a}}\n{{/* note */}}{{.b}} end\n"
	tmpl := mustParse(t, src)
	data := map[string]string{"a": "A", "b": "<B & {{.a}}>"}
	for _, x := range []*expander{tmpl.headers[1].x, tmpl.body} {
		if !x.fast {
			t.Fatalf("template not on the fast path")
		}
		var fast, slow bytes.Buffer
		if err := x.execute(&fast, data); err != nil {
			t.Fatal(err)
		}
		if err := x.tmpl.Execute(&slow, data); err != nil {
			t.Fatal(err)
		}
		if fast.String() != slow.String() {
			t.Errorf("fast path %q, text/template %q", fast.String(), slow.String())
		}
	}
}

// TestRecursionBounded: a template that calls itself with a large field
// stops at MaxRendered with an error instead of eating memory.
func TestRecursionBounded(t *testing.T) {
	tmpl := mustParse(t, "From: a@example.com\nSubject: s\n\n{{define \"r\"}}{{.big}}{{template \"r\" .}}{{end}}{{template \"r\" .}}\n")
	_, err := tmpl.Render(map[string]string{"big": strings.Repeat("x", 100<<10)}, testEnv)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
}
