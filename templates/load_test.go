package templates

import (
	"bytes"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-message/mail"
)

const (
	loadMessage = "From: Acme News <news@acme.example>\nSubject: Hello {{.name}}\n\nHello {{.name}},\nplain text.\n"
	loadHTML    = "<html><body><p>Hello {{.name}}</p><img src=\"cid:logo@acme.example\" alt=\"Acme\"></body></html>\n"
)

var (
	pngBytes = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR fake image \x00\xff\xfe")
	pdfBytes = append([]byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"), bytes.Repeat([]byte{0, 1, 2, 0xff, '\r', '\n', '-', '='}, 200)...)
)

// fixture writes files into a temporary directory and returns it.
func fixture(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// inDir makes the relative paths of opts relative to dir.
func inDir(dir string, opts Options) Options {
	join := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	opts.Path, opts.HTMLPath = join(opts.Path), join(opts.HTMLPath)
	var att []string
	for _, p := range opts.Attachments {
		att = append(att, join(p))
	}
	opts.Attachments = att
	if opts.Inline != nil {
		inline := maps.Clone(opts.Inline)
		for id, p := range inline {
			inline[id] = join(p)
		}
		opts.Inline = inline
	}
	if opts.AttachmentColumn != "" {
		opts.AttachmentDir = join(opts.AttachmentDir)
		if opts.AttachmentDir == "" {
			opts.AttachmentDir = dir
		}
	}
	if opts.DKIM != nil {
		d := *opts.DKIM
		d.KeyFile = join(d.KeyFile)
		opts.DKIM = &d
	}
	return opts
}

func defaultFiles() map[string]string {
	return map[string]string{
		"msg.tmpl":              loadMessage,
		"blank.tmpl":            "From: Acme News <news@acme.example>\nSubject: Hello {{.name}}\n\n  \n",
		"body.html":             loadHTML,
		"logo.png":              string(pngBytes),
		"terms.pdf":             string(pdfBytes),
		"rows/ada-invoice.pdf":  "invoice for Ada",
		"rows/Prüfbericht.txt":  "Bericht\n",
		"rows/subdir/empty.bin": "",
	}
}

func mustLoad(t testing.TB, opts Options) *Template {
	t.Helper()
	dir := fixture(t, defaultFiles())
	tmpl, err := Load(inDir(dir, opts))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return tmpl
}

func TestLoadStructure(t *testing.T) {
	data := map[string]string{"name": "Ada", "file": "ada-invoice.pdf"}
	wantText := "Hello Ada,\r\nplain text.\r\n"
	wantHTML := strings.ReplaceAll(strings.ReplaceAll(loadHTML, "{{.name}}", "Ada"), "\n", "\r\n")
	logo := map[string]string{"logo@acme.example": "logo.png"}
	tests := []struct {
		name  string
		opts  Options
		shape string
	}{
		{"text", Options{Path: "msg.tmpl"}, "text/plain"},
		{"html only", Options{Path: "blank.tmpl", HTMLPath: "body.html"}, "text/html"},
		{"alternative", Options{Path: "msg.tmpl", HTMLPath: "body.html"}, "multipart/alternative(text/plain,text/html)"},
		{"html and images", Options{Path: "blank.tmpl", HTMLPath: "body.html", Inline: logo},
			"multipart/related(text/html,image/png)"},
		{"alternative and images", Options{Path: "msg.tmpl", HTMLPath: "body.html", Inline: logo},
			"multipart/alternative(text/plain,multipart/related(text/html,image/png))"},
		{"text and attachment", Options{Path: "msg.tmpl", Attachments: []string{"terms.pdf"}},
			"multipart/mixed(text/plain,application/pdf)"},
		{"html only and attachment", Options{Path: "blank.tmpl", HTMLPath: "body.html", Attachments: []string{"terms.pdf"}},
			"multipart/mixed(text/html,application/pdf)"},
		{"everything", Options{Path: "msg.tmpl", HTMLPath: "body.html", Inline: logo, Attachments: []string{"terms.pdf", "logo.png"},
			AttachmentColumn: "file", AttachmentDir: "rows"},
			"multipart/mixed(multipart/alternative(text/plain,multipart/related(text/html,image/png)),application/pdf,image/png,application/pdf)"},
		{"row attachment only", Options{Path: "msg.tmpl", AttachmentColumn: "file", AttachmentDir: "rows"},
			"multipart/mixed(text/plain,application/pdf)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl := mustLoad(t, tt.opts)
			msg, err := tmpl.Render(data, testEnv)
			if err != nil {
				t.Fatal(err)
			}
			root := readTree(t, msg)
			if got := root.shape(); got != tt.shape {
				t.Fatalf("shape %s, want %s\n%s", got, tt.shape, msg)
			}
			if p := root.find("text/plain"); p != nil {
				if string(p.body) != wantText {
					t.Errorf("text part %q, want %q", p.body, wantText)
				}
				if len(root.kids) > 0 && p.encoding != "quoted-printable" {
					t.Errorf("text part in a multipart is %s", p.encoding)
				}
			}
			if p := root.find("text/html"); p != nil {
				if string(p.body) != wantHTML {
					t.Errorf("HTML part %q, want %q", p.body, wantHTML)
				}
				if _, params, _ := p.header.ContentType(); params["charset"] != "utf-8" {
					t.Errorf("HTML part charset %q", params["charset"])
				}
			}
			for _, l := range root.leaves() {
				disp, dparams, _ := l.header.ContentDisposition()
				switch {
				case l.typ == "image/png" && disp == "inline":
					if got := l.header.Get("Content-Id"); got != "<logo@acme.example>" {
						t.Errorf("inline image Content-ID %q", got)
					}
					if !bytes.Equal(l.body, pngBytes) {
						t.Errorf("inline image bytes differ")
					}
				case disp == "attachment":
					if l.encoding != "base64" {
						t.Errorf("attachment %s is %s", dparams["filename"], l.encoding)
					}
					want := map[string][]byte{"terms.pdf": pdfBytes, "logo.png": pngBytes, "ada-invoice.pdf": []byte("invoice for Ada")}[dparams["filename"]]
					if want == nil || !bytes.Equal(l.body, want) {
						t.Errorf("attachment %q: %d bytes differ from the file's", dparams["filename"], len(l.body))
					}
					if _, params, _ := l.header.ContentType(); params["name"] != dparams["filename"] {
						t.Errorf("Content-Type name %q, filename %q", params["name"], dparams["filename"])
					}
				}
			}
			if len(root.kids) > 0 {
				if got := root.params["boundary"]; !strings.HasPrefix(got, "=_") {
					t.Errorf("boundary %q does not start with =_", got)
				}
			}
		})
	}
}

// A body line, a value or a file that looks like a boundary cannot end a
// part: the text is quoted-printable, where "=_" cannot appear.
func TestBoundaryInData(t *testing.T) {
	tmpl := mustLoad(t, Options{Path: "msg.tmpl", HTMLPath: "body.html", Attachments: []string{"terms.pdf"}})
	env := testEnv
	msg, err := tmpl.Render(map[string]string{"name": "x"}, env)
	if err != nil {
		t.Fatal(err)
	}
	b := readTree(t, msg).params["boundary"]
	for _, evil := range []string{"\r\n--" + b + "\r\n", "\n--" + b + "--\n", "--=_m.x\r\n--=_a.y"} {
		msg, err := tmpl.Render(map[string]string{"name": evil}, env)
		if err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				continue // in the Subject: a line break
			}
			t.Fatal(err)
		}
		if got := readTree(t, msg).shape(); got != "multipart/mixed(multipart/alternative(text/plain,text/html),application/pdf)" {
			t.Errorf("%q: shape %s", evil, got)
		}
	}
	// The body alone, without the Subject.
	dir := fixture(t, map[string]string{"m.tmpl": "From: a@acme.example\nSubject: s\n\n{{.v}}\n", "a.txt": "x"})
	tmpl, err = Load(Options{Path: filepath.Join(dir, "m.tmpl"), Attachments: []string{filepath.Join(dir, "a.txt")}})
	if err != nil {
		t.Fatal(err)
	}
	msg, err = tmpl.Render(map[string]string{"v": "\n--" + b + "\n--" + strings.Replace(b, "=_m", "=_a", 1) + "--\n"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if got := readTree(t, msg).shape(); got != "multipart/mixed(text/plain,text/plain)" {
		t.Errorf("shape %s", got)
	}
}

// Boundaries depend on the Message-ID only: the same message twice is the
// same bytes, two messages have different boundaries.
func TestBoundaryDeterministic(t *testing.T) {
	tmpl := mustLoad(t, Options{Path: "msg.tmpl", HTMLPath: "body.html", Inline: map[string]string{"logo@acme.example": "logo.png"}, Attachments: []string{"terms.pdf"}})
	data := map[string]string{"name": "Ada"}
	a, _ := tmpl.Render(data, testEnv)
	b, _ := tmpl.Render(data, testEnv)
	if !bytes.Equal(a, b) {
		t.Errorf("two renders of the same message differ")
	}
	env := testEnv
	env.MessageID = "other@acme.example"
	c, _ := tmpl.Render(data, env)
	ba, bc := readTree(t, a).params["boundary"], readTree(t, c).params["boundary"]
	if ba == bc {
		t.Errorf("same boundary %q for two Message-IDs", ba)
	}
	// Nested boundaries differ, and none is a prefix of another.
	root := readTree(t, a)
	bs := []string{root.params["boundary"], root.kids[0].params["boundary"], root.kids[0].kids[1].params["boundary"]}
	for i := range bs {
		for j := range bs {
			if i != j && strings.HasPrefix(bs[i], bs[j]) {
				t.Errorf("boundary %q starts with %q", bs[i], bs[j])
			}
		}
	}
}

func TestHTMLEscaping(t *testing.T) {
	dir := fixture(t, map[string]string{
		"m.tmpl": "From: a@acme.example\nSubject: s\n\n{{.v}}\n",
		"b.html": `<p title="{{.v}}">{{.v}}</p><a href="https://acme.example/?q={{.v}}">x</a><a href="{{.v}}">y</a>` + "\n",
	})
	tmpl, err := Load(Options{Path: filepath.Join(dir, "m.tmpl"), HTMLPath: filepath.Join(dir, "b.html")})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := tmpl.Render(map[string]string{"v": `<script>alert("x")</script>`}, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	root := readTree(t, msg)
	html := string(root.find("text/html").body)
	want := `<p title="&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;">&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</p>` +
		`<a href="https://acme.example/?q=%3cscript%3ealert%28%22x%22%29%3c%2fscript%3e">x</a><a href="%3cscript%3ealert%28%22x%22%29%3c/script%3e">y</a>` + "\r\n"
	if html != want {
		t.Errorf("HTML part\n got %s\nwant %s", html, want)
	}
	// The text part is not HTML: the value as it is.
	if got := string(root.find("text/plain").body); got != `<script>alert("x")</script>`+"\r\n" {
		t.Errorf("text part %q", got)
	}
	if got := strings.Join(tmpl.Fields(), ","); got != "v" {
		t.Errorf("Fields() = %s", got)
	}
	msg, err = tmpl.Render(map[string]string{"v": "javascript:alert(1)"}, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if html := string(readTree(t, msg).find("text/html").body); strings.Contains(html, `href="javascript:`) {
		t.Errorf("javascript: URL kept: %s", html)
	}
}

func TestHTMLErrors(t *testing.T) {
	tests := []struct{ html, want string }{
		{"<p>{{if .x}}</p>", "b.html:1: unexpected EOF"},
		{"<p>\n{{nope .x}}</p>", `b.html:2: function "nope" not defined`},
		{"<a href=\"{{.x}}>", "b.html: ends in a non-text context"}, // an escaping error, at Load
		{"<p>caf\xe9</p>", "b.html:1: not valid UTF-8"},
	}
	for _, tt := range tests {
		dir := fixture(t, map[string]string{"m.tmpl": "From: a@acme.example\nSubject: s\n\n", "b.html": tt.html})
		_, err := Load(Options{Path: filepath.Join(dir, "m.tmpl"), HTMLPath: filepath.Join(dir, "b.html")})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err = %v, want %q", tt.html, err, tt.want)
		}
	}
	dir := fixture(t, map[string]string{"m.tmpl": "From: a@acme.example\nSubject: s\n\n", "b.html": "<p>{{.missing}}</p>"})
	tmpl, err := Load(Options{Path: filepath.Join(dir, "m.tmpl"), HTMLPath: filepath.Join(dir, "b.html")})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(tmpl.Fields(), ","); got != "missing" {
		t.Errorf("Fields() = %q, want the HTML body's", got)
	}
	if _, err := tmpl.Render(map[string]string{"x": "1"}, testEnv); err == nil || !strings.Contains(err.Error(), "html body: ") || !strings.Contains(err.Error(), `"missing"`) {
		t.Errorf("missing key: err = %v", err)
	}
	if _, err := Load(Options{Path: filepath.Join(dir, "m.tmpl"), HTMLPath: filepath.Join(dir, "nope.html")}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing HTML file: err = %v", err)
	}
}

func TestUnsubscribe(t *testing.T) {
	tmpl := mustLoad(t, Options{Path: "msg.tmpl", Unsubscribe: Unsubscribe{
		URL:    "https://acme.example/u/{{urlquery .token}}",
		Mailto: "unsubscribe@acme.example?subject={{urlquery .token}}",
	}})
	msg, err := tmpl.Render(map[string]string{"name": "Ada", "token": "t 1/2"}, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	readTree(t, msg)
	p := readBack(t, msg, tmpl)
	if got, want := p.header.Get("List-Unsubscribe"), "<https://acme.example/u/t+1%2F2>, <mailto:unsubscribe@acme.example?subject=t+1%2F2>"; got != want {
		t.Errorf("List-Unsubscribe %q, want %q", got, want)
	}
	if got := p.header.Get("List-Unsubscribe-Post"); got != "List-Unsubscribe=One-Click" {
		t.Errorf("List-Unsubscribe-Post %q", got)
	}
	if p.count["List-Unsubscribe"] != 1 || p.count["List-Unsubscribe-Post"] != 1 {
		t.Errorf("counts %v", p.count)
	}
	if !tmpl.HasHeader("list-unsubscribe") || !tmpl.HasHeader("List-Unsubscribe-Post") {
		t.Errorf("HasHeader does not see the unsubscribe fields")
	}
	if f := tmpl.Fields(); !strings.Contains(strings.Join(f, ","), "token") {
		t.Errorf("Fields() = %q, no token", f)
	}

	// Mailto only: no one-click Post field; "mailto:" may be written.
	tmpl = mustLoad(t, Options{Path: "msg.tmpl", Unsubscribe: Unsubscribe{Mailto: "MAILTO:u@acme.example"}})
	msg, err = tmpl.Render(map[string]string{"name": "Ada"}, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	p = readBack(t, msg, tmpl)
	if got := p.header.Get("List-Unsubscribe"); got != "<mailto:u@acme.example>" {
		t.Errorf("List-Unsubscribe %q", got)
	}
	if p.count["List-Unsubscribe-Post"] != 0 {
		t.Errorf("List-Unsubscribe-Post without a URL")
	}

	// A long URL is folded after the comma, within 998.
	tmpl = mustLoad(t, Options{Path: "msg.tmpl", Unsubscribe: Unsubscribe{URL: "https://acme.example/u/{{.token}}", Mailto: "u@acme.example"}})
	msg, err = tmpl.Render(map[string]string{"name": "Ada", "token": strings.Repeat("a", 500)}, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	p = readBack(t, msg, tmpl)
	if got := p.header.Get("List-Unsubscribe"); got != "<https://acme.example/u/"+strings.Repeat("a", 500)+">, <mailto:u@acme.example>" {
		t.Errorf("long List-Unsubscribe %q", got)
	}
}

func TestUnsubscribeBadValues(t *testing.T) {
	tmpl := mustLoad(t, Options{Path: "msg.tmpl", Unsubscribe: Unsubscribe{URL: "{{.url}}", Mailto: "{{.mail}}"}})
	good := map[string]string{"name": "Ada", "url": "https://acme.example/u/1", "mail": "u@acme.example"}
	if _, err := tmpl.Render(good, testEnv); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		key, value string
		want       error
	}{
		{"url", "http://acme.example/u/1", ErrBadUnsubscribe},
		{"url", "", ErrBadUnsubscribe},
		{"url", "https://", ErrBadUnsubscribe},
		{"url", "https://acme.example/u/a b", ErrBadUnsubscribe},
		{"url", "https://acme.example/u/>, <https://evil.example/", ErrBadUnsubscribe},
		{"url", "https://acme.example/ü", ErrBadUnsubscribe},
		{"url", "https://acme.example/u\r\nBcc: x@evil.example", ErrLineBreak},
		{"url", "javascript:alert(1)", ErrBadUnsubscribe},
		{"mail", "not an address", ErrBadUnsubscribe},
		{"mail", "u@acme.example>, <https://evil.example", ErrBadUnsubscribe},
		{"mail", "Name <u@acme.example>", ErrBadUnsubscribe},
		{"mail", "u@acme.example\nBcc: x@evil.example", ErrLineBreak},
	} {
		data := maps.Clone(good)
		data[tt.key] = tt.value
		msg, err := tmpl.Render(data, testEnv)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Header != "List-Unsubscribe" || !errors.Is(err, tt.want) || msg != nil {
			t.Errorf("%s=%q: err = %v, want a List-Unsubscribe FieldError wrapping %v", tt.key, tt.value, err, tt.want)
		}
	}
}

func TestExtraHeaders(t *testing.T) {
	tmpl := mustLoad(t, Options{Path: "msg.tmpl", FeedbackID: "{{.campaign}}:newsletter:acme",
		Headers: map[string]string{"X-Campaign": "{{.campaign}}", "Reply-To": "help@acme.example", "List-Id": "Acme News <news.acme.example>"}})
	data := map[string]string{"name": "Ada", "campaign": "april"}
	msg, err := tmpl.Render(data, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	p := readBack(t, msg, tmpl)
	for k, want := range map[string]string{
		"Feedback-ID": "april:newsletter:acme", "X-Campaign": "april",
		"Reply-To": "<help@acme.example>", "List-Id": "Acme News <news.acme.example>",
	} {
		if got := p.header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	// Sorted by name, after the message file's fields.
	var names []string
	for _, l := range headerLines(msg) {
		if k, _, ok := strings.Cut(l, ":"); ok && !strings.HasPrefix(l, " ") {
			names = append(names, k)
		}
	}
	if got, want := strings.Join(names[:6], " "), "From Subject List-Id Reply-To X-Campaign Feedback-ID"; got != want {
		t.Errorf("order %s, want %s", got, want)
	}

	for _, evil := range []string{"x\r\nBcc: victim@evil.example", "x\nDKIM-Signature: forged", "x\x00"} {
		data["campaign"] = evil
		msg, err := tmpl.Render(data, testEnv)
		var fe *FieldError
		if !errors.As(err, &fe) || !errors.Is(err, ErrLineBreak) || msg != nil {
			t.Errorf("%q: err = %v, want a FieldError wrapping ErrLineBreak", evil, err)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dkimKey := writeKeys(t)
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no path", Options{}, "no message file"},
		{"missing file", Options{Path: "nope.tmpl"}, "nope.tmpl"},
		{"Date header", Options{Path: "msg.tmpl", Headers: map[string]string{"Date": "x"}}, "Date is written by the message builder"},
		{"Content-Type header", Options{Path: "msg.tmpl", Headers: map[string]string{"content-type": "text/html"}}, "Content-Type is written by the message builder"},
		{"MIME-Version header", Options{Path: "msg.tmpl", Headers: map[string]string{"MIME-Version": "1.0"}}, "MIME-Version is written"},
		{"Message-ID header", Options{Path: "msg.tmpl", Headers: map[string]string{"Message-Id": "<a@b>"}}, "Message-ID is written"},
		{"DKIM-Signature header", Options{Path: "msg.tmpl", Headers: map[string]string{"DKIM-Signature": "v=1"}}, "DKIM-Signature is added by DKIM signing"},
		{"Bcc header", Options{Path: "msg.tmpl", Headers: map[string]string{"Bcc": "x@evil.example"}}, "Bcc is not supported"},
		{"From header", Options{Path: "msg.tmpl", Headers: map[string]string{"From": "x@evil.example"}}, "From belongs in the message file"},
		{"To header", Options{Path: "msg.tmpl", Headers: map[string]string{"to": "x@evil.example"}}, "To belongs in the message file"},
		{"Subject header", Options{Path: "msg.tmpl", Headers: map[string]string{"Subject": "x"}}, "Subject belongs in the message file"},
		{"header in file", Options{Path: "unsub.tmpl", Headers: map[string]string{"x-tag": "x"}}, "x-tag is set twice"},
		{"bad name", Options{Path: "msg.tmpl", Headers: map[string]string{"X Tag": "x"}}, `invalid header name "X Tag"`},
		{"name with colon", Options{Path: "msg.tmpl", Headers: map[string]string{"X-A: b\r\nBcc": "x"}}, "invalid header name"},
		{"bad header template", Options{Path: "msg.tmpl", Headers: map[string]string{"X-A": "{{.x"}}, "extra header X-A:1: unclosed action"},
		{"bad constant header", Options{Path: "msg.tmpl", Headers: map[string]string{"Reply-To": "nobody"}}, "bad address"},
		{"unsubscribe and file", Options{Path: "unsub.tmpl", Unsubscribe: Unsubscribe{URL: "https://a.example/u"}}, "List-Unsubscribe is already set by the message file"},
		{"unsubscribe and header", Options{Path: "msg.tmpl", Headers: map[string]string{"List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}, Unsubscribe: Unsubscribe{URL: "https://a.example/u"}}, "List-Unsubscribe-Post is already set"},
		{"bad unsubscribe template", Options{Path: "msg.tmpl", Unsubscribe: Unsubscribe{URL: "https://a.example/{{"}}, "unsubscribe URL:1:"},
		{"feedback ID and file", Options{Path: "unsub.tmpl", FeedbackID: "a:b"}, "Feedback-ID is set twice"},
		{"missing attachment", Options{Path: "msg.tmpl", Attachments: []string{"nope.pdf"}}, "nope.pdf: no such file"},
		{"attachment directory", Options{Path: "msg.tmpl", Attachments: []string{"rows"}}, "rows: not a regular file"},
		{"inline without HTML", Options{Path: "msg.tmpl", Inline: map[string]string{"logo": "logo.png"}}, "inline images need an HTML body"},
		{"inline not referenced", Options{Path: "msg.tmpl", HTMLPath: "body.html", Inline: map[string]string{"other": "logo.png"}}, "the HTML body has no cid:other"},
		{"inline not an image", Options{Path: "msg.tmpl", HTMLPath: "body.html", Inline: map[string]string{"logo@acme.example": "terms.pdf"}}, "is not an image file"},
		{"inline missing", Options{Path: "msg.tmpl", HTMLPath: "body.html", Inline: map[string]string{"logo@acme.example": "nope.png"}}, "nope.png"},
		{"inline bad ID", Options{Path: "msg.tmpl", HTMLPath: "body.html", Inline: map[string]string{"lo go>": "logo.png"}}, "character ' ' not allowed"},
		{"attachment dir missing", Options{Path: "msg.tmpl", AttachmentColumn: "f", AttachmentDir: "nope"}, "attachment directory"},
		{"attachment dir a file", Options{Path: "msg.tmpl", AttachmentColumn: "f", AttachmentDir: "terms.pdf"}, "is not a directory"},
		{"dkim no domain", Options{Path: "msg.tmpl", DKIM: &DKIMOptions{Selector: "s", KeyFile: dkimKey["ed25519"]}}, "dkim: no domain"},
		{"dkim bad selector", Options{Path: "msg.tmpl", DKIM: &DKIMOptions{Domain: "acme.example", Selector: "a b", KeyFile: dkimKey["ed25519"]}}, "dkim: selector"},
		{"dkim no key", Options{Path: "msg.tmpl", DKIM: &DKIMOptions{Domain: "acme.example", Selector: "s"}}, "dkim: no key file"},
		{"dkim missing key", Options{Path: "msg.tmpl", DKIM: &DKIMOptions{Domain: "acme.example", Selector: "s", KeyFile: "nope.pem"}}, "nope.pem"},
		{"dkim not PEM", Options{Path: "msg.tmpl", DKIM: &DKIMOptions{Domain: "acme.example", Selector: "s", KeyFile: "terms.pdf"}}, "no PEM block"},
		{"dkim public key", Options{Path: "msg.tmpl", DKIM: &DKIMOptions{Domain: "acme.example", Selector: "s", KeyFile: dkimKey["public"]}}, `PEM block "PUBLIC KEY"`},
		{"dkim encrypted", Options{Path: "msg.tmpl", DKIM: &DKIMOptions{Domain: "acme.example", Selector: "s", KeyFile: dkimKey["encrypted"]}}, "encrypted"},
		{"dkim ecdsa", Options{Path: "msg.tmpl", DKIM: &DKIMOptions{Domain: "acme.example", Selector: "s", KeyFile: dkimKey["ecdsa"]}}, "ecdsa.PrivateKey keys are not supported"},
		{"dkim not aligned", Options{Path: "msg.tmpl", DKIM: &DKIMOptions{Domain: "esp.example", Selector: "s", KeyFile: dkimKey["ed25519"]}}, "the From domain does not align with the DKIM domain: From news@acme.example, d=esp.example"},
	}
	files := defaultFiles()
	files["unsub.tmpl"] = "From: a@acme.example\nSubject: s\nX-Tag: a\nList-Unsubscribe: <https://a.example/u>\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\nFeedback-ID: a:b\n\n"
	dir := fixture(t, files)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			if opts.Path != "" {
				opts = inDir(dir, opts)
			}
			tmpl, err := Load(opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
			if tmpl != nil {
				t.Errorf("a template with the error")
			}
		})
	}
}

func TestRowAttachment(t *testing.T) {
	tmpl := mustLoad(t, Options{Path: "msg.tmpl", AttachmentColumn: "file", AttachmentDir: "rows"})
	for _, tt := range []struct {
		file  string
		shape string
		name  string
	}{
		{"ada-invoice.pdf", "multipart/mixed(text/plain,application/pdf)", "ada-invoice.pdf"},
		{"Prüfbericht.txt", "multipart/mixed(text/plain,text/plain)", "Prüfbericht.txt"},
		{"subdir/empty.bin", "multipart/mixed(text/plain,application/octet-stream)", "empty.bin"},
		{"  ", "text/plain", ""},
		{"", "text/plain", ""},
	} {
		data := map[string]string{"name": "Ada", "file": tt.file}
		if err := tmpl.CheckAttachments(data); err != nil {
			t.Errorf("%q: CheckAttachments: %v", tt.file, err)
		}
		msg, err := tmpl.Render(data, testEnv)
		if err != nil {
			t.Fatalf("%q: %v", tt.file, err)
		}
		root := readTree(t, msg)
		if got := root.shape(); got != tt.shape {
			t.Errorf("%q: shape %s, want %s", tt.file, got, tt.shape)
		}
		if tt.name == "" {
			continue
		}
		ah := mail.AttachmentHeader{Header: root.kids[1].header}
		if name, err := ah.Filename(); err != nil || name != tt.name {
			t.Errorf("%q: file name %q, %v, want %q", tt.file, name, err, tt.name)
		}
	}
	for _, tt := range []struct {
		file string
		want error
	}{
		{"nope.pdf", fs.ErrNotExist},
		{"../terms.pdf", ErrAttachment},
		{"/etc/passwd", ErrAttachment},
		{"subdir", ErrAttachment},
		{"subdir/../../terms.pdf", ErrAttachment},
	} {
		data := map[string]string{"name": "Ada", "file": tt.file}
		for _, f := range []func() error{
			func() error { return tmpl.CheckAttachments(data) },
			func() error { _, err := tmpl.Render(data, testEnv); return err },
		} {
			err := f()
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Column != "file" || !errors.Is(err, ErrAttachment) || !errors.Is(err, tt.want) {
				t.Errorf("%q: err = %v, want a FieldError for column file wrapping %v", tt.file, err, tt.want)
			}
			if err != nil && !strings.HasPrefix(err.Error(), `column "file": cannot attach file: `) {
				t.Errorf("%q: error text %q", tt.file, err)
			}
		}
	}
	// A column missing from the data is the template's problem, not the row's.
	err := tmpl.CheckAttachments(map[string]string{"name": "Ada"})
	var fe *FieldError
	if err == nil || errors.As(err, &fe) {
		t.Errorf("missing column: err = %v, want a plain error", err)
	}
	if f := strings.Join(tmpl.Fields(), ","); f != "file,name" {
		t.Errorf("Fields() = %s", f)
	}
}

// A symbolic link out of the attachment directory is refused.
func TestRowAttachmentSymlink(t *testing.T) {
	dir := fixture(t, defaultFiles())
	if err := os.Symlink(filepath.Join(dir, "terms.pdf"), filepath.Join(dir, "rows", "link.pdf")); err != nil {
		t.Skip(err)
	}
	tmpl, err := Load(inDir(dir, Options{Path: "msg.tmpl", AttachmentColumn: "file", AttachmentDir: "rows"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := tmpl.CheckAttachments(map[string]string{"file": "link.pdf"}); !errors.Is(err, ErrAttachment) {
		t.Errorf("symlink out of the directory: err = %v", err)
	}
}

// A long non-ASCII file name stays within 998 characters a line, and
// decodes back.
func TestLongAttachmentName(t *testing.T) {
	name := strings.Repeat("ü", 120) + ".pdf" // 244 bytes
	dir := fixture(t, map[string]string{"m.tmpl": "From: a@acme.example\nSubject: s\n\nx\n", name: "data"})
	tmpl, err := Load(Options{Path: filepath.Join(dir, "m.tmpl"), Attachments: []string{filepath.Join(dir, name)}})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := tmpl.Render(nil, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	root := readTree(t, msg)
	ah := mail.AttachmentHeader{Header: root.kids[1].header}
	if got, err := ah.Filename(); err != nil || got != name {
		t.Errorf("file name %q, %v", got, err)
	}
}

// Templates made by Load are safe for concurrent use (run with -race).
func TestLoadConcurrent(t *testing.T) {
	tmpl := mustLoad(t, Options{Path: "msg.tmpl", HTMLPath: "body.html", Inline: map[string]string{"logo@acme.example": "logo.png"},
		Attachments: []string{"terms.pdf"}, AttachmentColumn: "file", AttachmentDir: "rows",
		Unsubscribe: Unsubscribe{URL: "https://acme.example/u/{{.name}}"}})
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 30 {
				file := []string{"ada-invoice.pdf", "", "Prüfbericht.txt"}[(g+i)%3]
				msg, err := tmpl.Render(map[string]string{"name": "n" + string(rune('a'+g)), "file": file}, testEnv)
				if err != nil {
					t.Error(err)
					return
				}
				root := readTree(t, msg)
				if want := 2 + min(len(file), 1); len(root.kids) != want {
					t.Errorf("%d parts, want %d", len(root.kids), want)
					return
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
}
