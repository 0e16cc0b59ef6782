package templates

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// benchTemplate is a typical campaign: a personalised Subject, an
// unsubscribe header and a body of about 2 KB.
var benchTemplate = `From: Acme News <news@acme.example>
Subject: {{.first_name}}, your April update is here
List-Unsubscribe: <https://acme.example/u/{{.token}}>, <mailto:unsubscribe@acme.example?subject={{.token}}>
List-Unsubscribe-Post: List-Unsubscribe=One-Click

Hello {{.first_name}},

` + strings.Repeat("Here is what changed at Acme this month, and what it means for you.\n", 26) + `
Your plan: {{.plan}}. Your account manager: {{.manager}}.

-- 
Acme News, 1 Example Street, Springfield
`

func benchData(i int) map[string]string {
	return map[string]string{
		"first_name": "Ada" + strconv.Itoa(i%100),
		"token":      "b9f3c2e1" + strconv.Itoa(i),
		"plan":       "Team",
		"manager":    "Grace Hopper",
	}
}

func BenchmarkRender(b *testing.B) {
	for _, bc := range []struct {
		name string
		src  string
	}{
		{"ascii", benchTemplate},
		{"utf8", strings.ReplaceAll(benchTemplate, "changed", "changé")},
		{"funcs", strings.Replace(benchTemplate, "Hello {{.first_name}}", `Hello {{default "friend" .first_name | title}}`, 1)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tmpl, err := Parse("bench.tmpl", []byte(bc.src))
			if err != nil {
				b.Fatal(err)
			}
			benchRender(b, tmpl)
		})
	}
}

// BenchmarkRenderNewsletter is bench/run.sh's case 1b: a text part over
// 76-character lines (quoted-printable), an HTML part, 24 columns and
// about 40 substitutions, on the benchmark list's ASCII row and on the
// golden test's row of HTML specials and non-ASCII.
func BenchmarkRenderNewsletter(b *testing.B) {
	tmpl, err := Load(Options{Path: "testdata/newsletter.tmpl", HTMLPath: "testdata/newsletter.html"})
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"newsletterascii", "newsletter"} {
		b.Run(name, func(b *testing.B) {
			data := readJSONData(b, "testdata/"+name+".json")
			msg, err := tmpl.Render(data, testEnv)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tmpl.Render(data, testEnv); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func readJSONData(tb testing.TB, path string) map[string]string {
	tb.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var data map[string]string
	if err := json.Unmarshal(src, &data); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return data
}

func BenchmarkAppendRender(b *testing.B) {
	tmpl, err := Parse("bench.tmpl", []byte(benchTemplate))
	if err != nil {
		b.Fatal(err)
	}
	data := benchData(1)
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		if buf, err = tmpl.AppendRender(buf[:0], data, testEnv); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRenderParallel(b *testing.B) {
	tmpl, err := Parse("bench.tmpl", []byte(benchTemplate))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		data := benchData(1)
		for pb.Next() {
			if _, err := tmpl.Render(data, testEnv); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRenderDKIM is the typical campaign message (about 2.5 KB)
// unsigned, then signed with RSA-2048 and with Ed25519 (relaxed/relaxed).
func BenchmarkRenderDKIM(b *testing.B) {
	keys := writeKeys(b)
	dir := fixture(b, map[string]string{"bench.tmpl": benchTemplate})
	for _, bc := range []struct {
		name string
		key  string
	}{
		{"plain", ""},
		{"rsa2048", "rsa"},
		{"ed25519", "ed25519"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			opts := Options{Path: filepath.Join(dir, "bench.tmpl")}
			if bc.key != "" {
				opts.DKIM = &DKIMOptions{Domain: "acme.example", Selector: "s", KeyFile: keys[bc.key]}
			}
			tmpl, err := Load(opts)
			if err != nil {
				b.Fatal(err)
			}
			benchRender(b, tmpl)
		})
	}
}

// BenchmarkRenderMultipart: text and HTML bodies, an inline image, then a
// 100 KB attachment, unsigned and signed with Ed25519.
func BenchmarkRenderMultipart(b *testing.B) {
	keys := writeKeys(b)
	html := "<html><body><img src=\"cid:logo\"><p>Hello {{.first_name}},</p>\n" +
		strings.Repeat("<p>Here is what changed at Acme this month, and what it means for you.</p>\n", 26) +
		"<p>Your plan: {{.plan}}. Your account manager: {{.manager}}.</p></body></html>\n"
	dir := fixture(b, map[string]string{
		"bench.tmpl": benchTemplate, "bench.html": html, "logo.png": strings.Repeat("\x89PNG", 500),
		"big.pdf": strings.Repeat("%PDF\x00\x01\x02\xff", 100<<10/8),
	})
	for _, bc := range []struct {
		name   string
		attach bool
		dkim   bool
	}{
		{"html", false, false},
		{"html+100KB", true, false},
		{"html+100KB+ed25519", true, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			opts := Options{Path: filepath.Join(dir, "bench.tmpl"), HTMLPath: filepath.Join(dir, "bench.html"),
				Inline: map[string]string{"logo": filepath.Join(dir, "logo.png")}}
			if bc.attach {
				opts.Attachments = []string{filepath.Join(dir, "big.pdf")}
			}
			if bc.dkim {
				opts.DKIM = &DKIMOptions{Domain: "acme.example", Selector: "s", KeyFile: keys["ed25519"]}
			}
			tmpl, err := Load(opts)
			if err != nil {
				b.Fatal(err)
			}
			benchRender(b, tmpl)
		})
	}
}

func benchRender(b *testing.B, tmpl *Template) {
	data := benchData(1)
	msg, err := tmpl.Render(data, testEnv)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tmpl.Render(data, testEnv); err != nil {
			b.Fatal(err)
		}
	}
}
