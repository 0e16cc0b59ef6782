package templates

import (
	"bytes"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
)

// htmlFastSource puts a value in every context the fast path handles:
// element text, a title (RCDATA), quoted attributes, a URL's start, its
// path after a fixed scheme, and its query.
const htmlFastSource = `<!DOCTYPE html><html lang="{{.v}}"><head><title>{{.v}} - {{.w}}</title></head>
<body><p title='{{.v}}'>{{.v}}{{.w}}</p>
<a href="{{.v}}">start</a> <a href="mailto:{{.v}}">mailto</a> <a href="https://x.example/{{.v}}">path</a>
<a href="https://x.example/?q={{.v}}&amp;r={{.w}}">query</a> <img src="{{.w}}" alt="{{.w}}">
</body></html>
`

// TestHTMLFastMatches checks the HTML fast path against html/template
// itself: the same bytes for values made of every ASCII byte, HTML and URL
// specials, percent escapes, non-ASCII and invalid UTF-8.
func TestHTMLFastMatches(t *testing.T) {
	x := loadHTMLExpander(t, htmlFastSource)
	if x.segs == nil {
		t.Fatal("no fast path for a template of text and .key actions in text, attribute and URL contexts")
	}
	for _, v := range htmlFastValues() {
		checkHTMLFast(t, x, map[string]string{"v": v, "w": v + "x"})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"<", ">", "&", "'", `"`, "+", "%", "%4", "%41", "%zz", "\x00", ":", "/", "javascript:", "mailto:",
		"http:", "a", "Z", "9", " ", "\t", "\n", "é", "\u2028", "\xff", "\xe2\x80", "#", "?", "=", "`", "~", "\x7f"}
	for range 2000 {
		var b []byte
		for range rng.IntN(12) {
			b = append(b, pieces[rng.IntN(len(pieces))]...)
		}
		checkHTMLFast(t, x, map[string]string{"v": string(b), "w": string(b[:len(b)/2])})
	}
}

func htmlFastValues() []string {
	vals := []string{"", "Ada", "Zoë <Ada>", "O'Brien & \"Sons\"", "a+b", "100%", "%41%4", "%%", "javascript:alert(1)",
		"JavaScript:x", "HTTPS://x.example/a b", "mailto:a@b.example?subject=x y", "/path:colon", "data:text/html,x",
		"\x00", "\xff\xfe", "\u2028\ufdd0\uffff", "日本語"}
	for c := range 128 {
		vals = append(vals, string(rune(c))+"x"+string(rune(c)))
	}
	return vals
}

func checkHTMLFast(t *testing.T, x *htmlExpander, data map[string]string) {
	t.Helper()
	var fast, slow bytes.Buffer
	fast.WriteString("prefix")
	if !executeHTMLFast(x.segs, &fast, data) {
		t.Fatalf("fast path refused %q", data)
	}
	slow.WriteString("prefix")
	if err := x.tmpl.Execute(&slow, data); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fast.Bytes(), slow.Bytes()) {
		t.Fatalf("for %q the fast path wrote\n%s\nhtml/template\n%s", data, fast.Bytes(), slow.Bytes())
	}
}

// TestHTMLFastFallback: what the fast path does not cover still renders,
// through html/template, and a missing key is html/template's error.
func TestHTMLFastFallback(t *testing.T) {
	for _, src := range []string{
		`<p>{{.v | upper}}</p>`,
		`<p>{{if .v}}{{.v}}{{end}}</p>`,
		`<script>var v = {{.v}};</script>`,
		`<p style="color: {{.v}}">x</p>`,
		`<p title={{.v}}>x</p>`,
		`{{define "x"}}{{.}}{{end}}<p>{{template "x" .v}}</p>`,
	} {
		x := loadHTMLExpander(t, src)
		if x.segs != nil {
			t.Errorf("%s: fast path for a template it does not cover", src)
		}
		var buf bytes.Buffer
		if err := x.execute(&buf, map[string]string{"v": "a<b"}); err != nil || !bytes.Contains(buf.Bytes(), []byte("<")) {
			t.Errorf("%s: %q, %v", src, buf.Bytes(), err)
		}
	}
	x := loadHTMLExpander(t, htmlFastSource)
	var buf bytes.Buffer
	err := x.execute(&buf, map[string]string{"v": "a"})
	if err == nil || !strings.Contains(err.Error(), `no entry for key "w"`) {
		t.Fatalf("missing key: got %v, want html/template's error", err)
	}
}

// FuzzHTMLFast is TestHTMLFastMatches for any value.
func FuzzHTMLFast(f *testing.F) {
	x := loadHTMLExpander(f, htmlFastSource)
	for _, v := range htmlFastValues() {
		f.Add(v, "w")
	}
	f.Fuzz(func(t *testing.T, v, w string) {
		checkHTMLFast(t, x, map[string]string{"v": v, "w": w})
	})
}

func loadHTMLExpander(tb testing.TB, src string) *htmlExpander {
	tb.Helper()
	dir := fixture(tb, map[string]string{"b.html": src})
	x, err := parseHTMLFile(filepath.Join(dir, "b.html"))
	if err != nil {
		tb.Fatal(err)
	}
	return x
}
