package templates

import (
	"bytes"
	"errors"
	"maps"
	"net/textproto"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// FuzzRender puts one data value in every kind of field, in a text-only
// template and in a multipart one made by Load (text, HTML with an inline
// image, a static attachment, the row's attachment, List-Unsubscribe,
// Feedback-ID, an extra header, DKIM). Render must not panic. When it fails
// the error is a *FieldError and there is no message. When it succeeds the
// message must read back with From, To, Subject, Date and Message-ID
// exactly once, no field the builder did not write, the expected MIME tree
// with each part decoding to its template's output, and a valid signature.
func FuzzRender(f *testing.F) {
	tmpl, err := Parse("fuzz.tmpl", []byte(fuzzMessage))
	if err != nil {
		f.Fatal(err)
	}
	multi := loadFuzzTemplate(f)
	for _, seed := range []string{
		"",
		"Ada",
		"Zoë Müller",
		"x\r\nBcc: victim@evil.example",
		"x\nBcc: victim@evil.example",
		"x\rBcc: victim@evil.example",
		"x\x00y",
		"=?utf-8?q?x=0D=0ABcc=3A_victim=40evil.example?=",
		"\"quoted, name\" <a@example.com>",
		"a@example.com, b@example.com",
		"(comment) <a@example.com>",
		"\t ",
		"日本語",
		"\xff\xfe",
		"line one\u2028line two\u0085",
		"very long value with many words that will need to be folded somewhere past column seventy-eight, and then again",
		"x=?y?=z_",
		"</p><script>alert(1)</script>",
		"\r\n--=_m.0000000000000000\r\nContent-Type: text/html\r\n\r\n<b>",
		"\n--=_a.6bae888973416720--\n",
		"terms.pdf",
		"../terms.pdf",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		data := map[string]string{"v": v}
		msg, err := tmpl.Render(data, testEnv)
		if checkFuzzError(t, msg, err) {
			readBack(t, msg, tmpl)
		}

		// The row's attachment is the value itself half of the time: most
		// values are no file, some escape the directory.
		for _, file := range []string{"", v} {
			data := map[string]string{"v": v, "file": file}
			msg, err := multi.Render(data, testEnv)
			if checkFuzzError(t, msg, err) {
				checkFuzzMultipart(t, multi, data, msg)
			}
		}
	})
}

const fuzzMessage = `From: {{.v}} <news@acme.example>
Subject: Hello {{.v}}
Reply-To: {{.v}}
X-Note: {{.v}}
List-Unsubscribe: <https://acme.example/u/{{.v}}>

Dear {{.v}},
{{title .v}} {{upper .v}} {{default "x" .v}} {{truncate 3 .v}} {{replace "a" "=" .v}}
`

// fuzzMultipartMessage has no address built from the value, so that most
// values get as far as the MIME tree.
const fuzzMultipartMessage = `From: Acme <news@acme.example>
Subject: Hello {{.v}}
X-Note: {{.v}}

Dear {{.v}},
{{title .v}} {{upper .v}} {{default "x" .v}} {{truncate 3 .v}} {{replace "a" "=" .v}}
`

const fuzzHTML = `<p title="{{.v}}">Dear {{.v}},</p><a href="https://acme.example/?q={{.v}}">{{upper .v}}</a>
<a href="{{.v}}">x</a><img src="cid:logo" alt="{{.v}}"><script>var v = {{.v}};</script><style>p { color: {{.v}} }</style>
`

// fuzzHeaders are the fields a multipart message may have.
var fuzzHeaders = []string{"Dkim-Signature", "From", "Subject", "X-Note", "X-Extra", "Feedback-Id",
	"List-Unsubscribe", "List-Unsubscribe-Post", "To", "Date", "Message-Id", "Mime-Version", "Content-Type"}

func loadFuzzTemplate(f *testing.F) *Template {
	keys := writeKeys(f)
	dir := fixture(f, map[string]string{
		"m.tmpl":         fuzzMultipartMessage,
		"b.html":         fuzzHTML,
		"logo.png":       string(pngBytes),
		"terms.pdf":      string(pdfBytes),
		"rows/terms.pdf": "row file",
	})
	multi, err := Load(Options{
		Path:             filepath.Join(dir, "m.tmpl"),
		HTMLPath:         filepath.Join(dir, "b.html"),
		Inline:           map[string]string{"logo": filepath.Join(dir, "logo.png")},
		Attachments:      []string{filepath.Join(dir, "terms.pdf")},
		AttachmentColumn: "file",
		AttachmentDir:    filepath.Join(dir, "rows"),
		Unsubscribe:      Unsubscribe{URL: "https://acme.example/u/{{urlquery .v}}", Mailto: "u@acme.example?subject={{urlquery .v}}"},
		FeedbackID:       "{{.v}}:acme",
		Headers:          map[string]string{"X-Extra": "{{.v}}"},
		DKIM:             &DKIMOptions{Domain: "acme.example", Selector: "fuzz", KeyFile: keys["ed25519"]},
	})
	if err != nil {
		f.Fatal(err)
	}
	return multi
}

// checkFuzzError reports whether Render succeeded, failing t when an error
// is not a FieldError or comes with a message.
func checkFuzzError(t *testing.T, msg []byte, err error) bool {
	t.Helper()
	if err == nil {
		return true
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error is not a FieldError: %v", err)
	}
	if msg != nil {
		t.Fatalf("message returned with error %v", err)
	}
	return false
}

func checkFuzzMultipart(t *testing.T, tmpl *Template, data map[string]string, msg []byte) {
	t.Helper()
	root := readTree(t, msg)
	want := "multipart/mixed(multipart/alternative(text/plain,multipart/related(text/html,image/png)),application/pdf)"
	if strings.TrimSpace(data["file"]) != "" {
		want = "multipart/mixed(multipart/alternative(text/plain,multipart/related(text/html,image/png)),application/pdf,application/pdf)"
	}
	if got := root.shape(); got != want {
		t.Fatalf("shape %s, want %s\n%s", got, want, msg)
	}
	counts := topFields(t, msg)
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		if !slices.Contains(fuzzHeaders, k) {
			t.Errorf("unexpected header field %q", k)
		}
		if counts[k] != 1 {
			t.Errorf("%s %d times", k, counts[k])
		}
	}
	for _, k := range []string{"Dkim-Signature", "List-Unsubscribe", "List-Unsubscribe-Post", "Feedback-Id"} {
		if counts[textproto.CanonicalMIMEHeaderKey(k)] != 1 {
			t.Errorf("no %s", k)
		}
	}
	var text, html bytes.Buffer
	if err := tmpl.body.execute(&text, data); err != nil {
		t.Fatal(err)
	}
	if err := tmpl.html.execute(&html, data); err != nil {
		t.Fatal(err)
	}
	wantText, _ := normalizeBody(nil, text.Bytes())
	wantHTML, _ := normalizeBody(nil, html.Bytes())
	if got := root.find("text/plain").body; !bytes.Equal(got, wantText) {
		t.Errorf("text part %q, want %q", got, wantText)
	}
	if got := root.find("text/html").body; !bytes.Equal(got, wantHTML) {
		t.Errorf("HTML part %q, want %q", got, wantHTML)
	}
	verifyDKIM(t, tmpl, msg)
}
