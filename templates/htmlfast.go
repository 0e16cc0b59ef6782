package templates

import (
	"bytes"
	"strings"
	"text/template/parse"
)

// The HTML body's fast path. html/template escapes a template by editing
// its parse tree once: {{.first_name}} in element text becomes
// {{.first_name | _html_template_htmlescaper}}, in an href
// {{.x | _html_template_urlfilter | _html_template_urlnormalizer |
// _html_template_attrescaper}}. Executing that tree goes through
// text/template's reflection for every action and every escaper, which
// was a fifth of a newsletter's CPU. An escaped tree made only of text and
// such pipelines, over escapers listed here, is compiled to segments and
// run with map lookups and the escapers below, which do on a string what
// html/template's do (TestHTMLFastMatches compares them on random values);
// anything else (a script or style context, range, if, a function call)
// keeps html/template, as does a missing key, for its error.

// htmlSegment is literal text, or a map lookup through escapers.
type htmlSegment struct {
	text string
	key  string
	esc  []func(string) string
}

// htmlEscapers are html/template's escapers that the fast path does
// itself, by the names its escaped trees call them.
var htmlEscapers = map[string]func(string) string{
	"_html_template_htmlescaper":   htmlEscapeString,
	"_html_template_rcdataescaper": htmlEscapeString,
	"_html_template_attrescaper":   htmlEscapeString,
	"_html_template_urlfilter":     urlFilter,
	"_html_template_urlnormalizer": func(s string) string { return processURL(s, true) },
	"_html_template_urlescaper":    func(s string) string { return processURL(s, false) },
}

// compileHTML returns the segments of an escaped tree made only of text
// and .key actions piped through known escapers.
func compileHTML(root *parse.ListNode) ([]htmlSegment, bool) {
	if root == nil {
		return nil, false
	}
	segs := make([]htmlSegment, 0, len(root.Nodes))
	for _, n := range root.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			segs = append(segs, htmlSegment{text: string(n.Text)})
		case *parse.ActionNode:
			seg, ok := escapedField(n.Pipe)
			if !ok {
				return nil, false
			}
			segs = append(segs, seg)
		default:
			return nil, false
		}
	}
	return segs, true
}

// escapedField reads a pipeline .key | escaper | escaper...
func escapedField(p *parse.PipeNode) (htmlSegment, bool) {
	if p == nil || len(p.Decl) > 0 || len(p.Cmds) < 2 {
		return htmlSegment{}, false
	}
	key, ok := simpleField(&parse.PipeNode{Cmds: p.Cmds[:1]})
	if !ok {
		return htmlSegment{}, false
	}
	seg := htmlSegment{key: key}
	for _, c := range p.Cmds[1:] {
		if len(c.Args) != 1 {
			return htmlSegment{}, false
		}
		id, ok := c.Args[0].(*parse.IdentifierNode)
		if !ok || htmlEscapers[id.Ident] == nil {
			return htmlSegment{}, false
		}
		seg.esc = append(seg.esc, htmlEscapers[id.Ident])
	}
	return seg, true
}

// executeHTMLFast appends the output for data to buf. It reports false, with
// buf as it was, when a key is missing or the output passes MaxRendered:
// html/template then reports the error.
func executeHTMLFast(segs []htmlSegment, buf *bytes.Buffer, data map[string]string) bool {
	start := buf.Len()
	for _, s := range segs {
		if s.esc == nil {
			buf.WriteString(s.text)
			continue
		}
		v, ok := data[s.key]
		if !ok {
			buf.Truncate(start)
			return false
		}
		for _, esc := range s.esc {
			v = esc(v)
		}
		buf.WriteString(v)
	}
	if buf.Len()-start > MaxRendered {
		buf.Truncate(start)
		return false
	}
	return true
}

// htmlSpecial marks the bytes html/template's htmlReplacementTable
// replaces. They are ASCII, so a byte scan finds exactly the runes its
// rune scan does: no byte of a multi-byte or invalid UTF-8 sequence is
// below 0x80.
var htmlSpecial = [256]string{
	0:    "\uFFFD",
	'"':  "&#34;",
	'&':  "&amp;",
	'\'': "&#39;",
	'+':  "&#43;",
	'<':  "&lt;",
	'>':  "&gt;",
}

// htmlEscapeString is html/template's htmlEscaper, attrEscaper and
// rcdataEscaper on a plain string (they differ only for template.HTML
// values, which a CSV row never holds). It returns s itself when nothing
// needs escaping.
func htmlEscapeString(s string) string {
	i := 0
	for i < len(s) && htmlSpecial[s[i]] == "" {
		i++
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	written := 0
	for ; i < len(s); i++ {
		if r := htmlSpecial[s[i]]; r != "" {
			b.WriteString(s[written:i])
			b.WriteString(r)
			written = i + 1
		}
	}
	b.WriteString(s[written:])
	return b.String()
}

// urlFilter is html/template's: a URL with a scheme other than http,
// https or mailto becomes "#ZgotmplZ".
func urlFilter(s string) string {
	if protocol, _, ok := strings.Cut(s, ":"); ok && !strings.Contains(protocol, "/") {
		if !strings.EqualFold(protocol, "http") && !strings.EqualFold(protocol, "https") && !strings.EqualFold(protocol, "mailto") {
			return "#ZgotmplZ"
		}
	}
	return s
}

// processURL is html/template's urlNormalizer (norm) and urlEscaper on a
// plain string: every byte but the unreserved ones (and, when
// normalizing, the reserved ones and valid %XX escapes) percent-encoded
// in lower-case hex.
func processURL(s string, norm bool) string {
	var b []byte
	written := 0
	for i := 0; i < len(s); i++ {
		if urlKeeps(s, i, norm) {
			continue
		}
		if b == nil {
			b = make([]byte, 0, len(s)+16)
		}
		c := s[i]
		b = append(b, s[written:i]...)
		b = append(b, '%', lowerHex[c>>4], lowerHex[c&0xf])
		written = i + 1
	}
	if b == nil {
		return s
	}
	return string(append(b, s[written:]...))
}

const lowerHex = "0123456789abcdef"

// urlKeeps reports whether processURL leaves s[i] as it is.
func urlKeeps(s string, i int, norm bool) bool {
	switch c := s[i]; {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	case c == '-' || c == '.' || c == '_' || c == '~':
		return true
	case strings.IndexByte("!#$&*+,/:;=?@[]", c) >= 0:
		return norm
	case c == '%':
		return norm && i+2 < len(s) && isHexDigit(s[i+1]) && isHexDigit(s[i+2])
	}
	return false
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
