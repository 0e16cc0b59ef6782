package templates

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/mailblast/mailblast/safefile"
)

// Template is a parsed message template. It is safe for concurrent use.
type Template struct {
	name      string
	headers   []*headerTemplate // in template order, then those of Options
	body      *expander
	bodyBlank bool // the body is only whitespace
	hasTo     bool
	from      *headerTemplate

	// Set by Load.
	html      *htmlExpander // nil: no HTML body
	htmlOnly  bool          // HTML and a blank text body: no text part
	unsub     *unsubscribe  // nil: no List-Unsubscribe from Options
	files     []*filePart   // attached to every message
	inline    []*filePart   // images for the HTML body
	attach    attachColumn  // the row's attachment
	signer    *signer       // nil: unsigned
	root      *node         // the MIME tree
	rootNoRow *node         // the MIME tree when the row has no attachment
}

// headerTemplate is one header line of a template.
type headerTemplate struct {
	spec headerSpec
	x    *expander

	// Set when the value has no actions: rendered, checked and folded by
	// Parse. raw is nil when the field is left out.
	constant bool
	raw      []byte
	addr     string // for a constant From: the bare address
}

// Parse parses a template file. name is used in error messages, which have
// the form "name:LINE: ...".
func Parse(name string, src []byte) (*Template, error) {
	src = bytes.TrimPrefix(src, []byte("\uFEFF")) // editors on Windows add one
	if !utf8.Valid(src) {
		return nil, fmt.Errorf("%s:%d: not valid UTF-8 (save the file as UTF-8)", name, invalidUTF8Line(src))
	}
	lines, body, bodyLine, err := splitHeader(name, src)
	if err != nil {
		return nil, err
	}
	t := &Template{name: name}
	seen := make(map[string]int) // lower-case name -> line
	for _, l := range lines {
		h, err := t.parseHeader(l, seen)
		if err != nil {
			return nil, err
		}
		t.headers = append(t.headers, h)
	}
	for _, req := range []string{"From", "Subject"} {
		if _, ok := seen[strings.ToLower(req)]; !ok {
			return nil, fmt.Errorf("%s:%d: missing %s header", name, bodyLine-1, req)
		}
	}
	if t.body, err = newExpander(name, bodyLine, string(body)); err != nil {
		return nil, templateError(err)
	}
	t.bodyBlank = len(bytes.TrimSpace(body)) == 0
	t.buildTree()
	return t, nil
}

// ParseFile reads and parses the template file at path.
func ParseFile(path string) (*Template, error) {
	src, err := safefile.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, src)
}

// headerLine is a header field of the file, continuation lines unfolded.
type headerLine struct {
	line        int
	name, value string
}

// splitHeader returns the header fields of src, the body and the line the
// body starts on. Continuation lines join the previous value with one space.
// A line of only whitespace ends the header like an empty one.
func splitHeader(name string, src []byte) ([]headerLine, []byte, int, error) {
	var fields []headerLine
	for n := 1; ; n++ {
		if len(src) == 0 {
			return nil, nil, 0, fmt.Errorf("%s:%d: missing blank line between header and body", name, n)
		}
		line, rest, _ := bytes.Cut(src, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		src = rest
		text := trimWSP(string(line))
		switch {
		case text == "":
			return fields, src, n + 1, nil
		case isWSP(line[0]):
			if len(fields) == 0 {
				return nil, nil, 0, fmt.Errorf("%s:%d: continuation line before the first header", name, n)
			}
			f := &fields[len(fields)-1]
			f.value = strings.TrimLeft(f.value+" "+text, " ")
		default:
			k, v, ok := strings.Cut(text, ":")
			if !ok {
				return nil, nil, 0, fmt.Errorf("%s:%d: want a \"Name: value\" header line or a blank line before the body", name, n)
			}
			if !validFieldName(k) {
				return nil, nil, 0, fmt.Errorf("%s:%d: invalid header name %q", name, n, k)
			}
			fields = append(fields, headerLine{line: n, name: k, value: trimWSP(v)})
		}
	}
}

// parseHeader checks one header field and parses its value.
func (t *Template) parseHeader(l headerLine, seen map[string]int) (*headerTemplate, error) {
	spec := lookupHeader(l.name)
	if spec.refused != "" {
		return nil, fmt.Errorf("%s:%d: %s %s", t.name, l.line, spec.name, spec.refused)
	}
	key := strings.ToLower(l.name)
	if first, dup := seen[key]; dup && spec.once {
		return nil, fmt.Errorf("%s:%d: %s header repeated (first on line %d); it may appear only once", t.name, l.line, spec.name, first)
	} else if !dup {
		seen[key] = l.line
	}
	x, err := newExpander(t.name, l.line, l.value)
	if err != nil {
		return nil, templateError(err)
	}
	h := &headerTemplate{spec: spec, x: x}
	if err := h.precompute(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", t.name, l.line, err)
	}
	switch key {
	case "from":
		t.from = h
	case "to":
		t.hasTo = true
	}
	return h, nil
}

// precompute renders a header without actions once, so that Render only
// copies it and Parse reports a bad constant value with its line.
func (h *headerTemplate) precompute() error {
	v, ok := h.x.constant()
	if !ok {
		return nil
	}
	raw, err := h.build(nil, v)
	if err != nil {
		return err
	}
	h.constant, h.raw = true, slices.Clip(raw)
	if h.spec.name == "From" {
		a, err := h.address(v)
		if err != nil {
			return err
		}
		h.addr = a
	}
	return nil
}

// templateError drops text/template's "template: " prefix: its messages
// already start with "name:LINE:".
func templateError(err error) error {
	for _, prefix := range []string{"template: ", "html/template:"} {
		if msg, ok := strings.CutPrefix(err.Error(), prefix); ok {
			return errors.New(msg)
		}
	}
	return err
}

func invalidUTF8Line(src []byte) int {
	n := 1
	for len(src) > 0 {
		r, size := utf8.DecodeRune(src)
		if r == utf8.RuneError && size == 1 {
			break
		}
		if r == '\n' {
			n++
		}
		src = src[size:]
	}
	return n
}

// HasHeader reports whether the template has a header field called name,
// compared without regard to case.
func (t *Template) HasHeader(name string) bool {
	for _, h := range t.headers {
		if strings.EqualFold(h.spec.name, name) {
			return true
		}
	}
	if t.unsub != nil {
		switch strings.ToLower(name) {
		case "list-unsubscribe":
			return true
		case "list-unsubscribe-post":
			return t.unsub.url != nil || t.unsub.signed != nil
		}
	}
	return t.signer != nil && strings.EqualFold(name, "DKIM-Signature")
}

// Fields returns, sorted, the data keys the template refers to as .key,
// $.key or index . "key" (in the message file, the HTML body and the
// templates of Options), and the attachment column. A caller can check them
// against the CSV columns before sending: index does not fail on a missing
// key.
func (t *Template) Fields() []string {
	set := make(map[string]struct{})
	for _, h := range t.headers {
		h.x.fields(set)
	}
	t.body.fields(set)
	if t.html != nil {
		t.html.fields(set)
	}
	if t.unsub != nil {
		t.unsub.fields(set)
	}
	if t.attach.name != "" {
		set[t.attach.name] = struct{}{}
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
