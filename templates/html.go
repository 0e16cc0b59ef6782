package templates

import (
	"bytes"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/mailblast/mailblast/safefile"
)

// htmlExpander executes the HTML body with html/template, which escapes
// each value for its context: element text, attribute, URL, script, style.
type htmlExpander struct {
	tmpl *htmltemplate.Template
	src  string
	segs []htmlSegment // the fast path (htmlfast.go); nil without one
}

// parseHTMLFile reads and parses the HTML body at path.
func parseHTMLFile(path string) (*htmlExpander, error) {
	src, err := safefile.ReadFile(path)
	if err != nil {
		return nil, err
	}
	src = bytes.TrimPrefix(src, []byte("\uFEFF"))
	if !utf8.Valid(src) {
		return nil, fmt.Errorf("%s:%d: not valid UTF-8 (save the file as UTF-8)", path, invalidUTF8Line(src))
	}
	tmpl, err := htmltemplate.New(path).Funcs(htmltemplate.FuncMap(funcs)).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return nil, templateError(err)
	}
	// html/template works out the escaping on the first Execute. Run one
	// now so that an escaping problem (an action inside a tag name, an
	// unclosed attribute) is reported here and not for the first
	// recipient, and so that the parse trees are final before Render
	// reads them from many goroutines. With no data the execution itself
	// fails at the first column; that is expected.
	if err := tmpl.Execute(io.Discard, nil); err != nil {
		if he := (*htmltemplate.Error)(nil); errors.As(err, &he) {
			return nil, templateError(err)
		}
	}
	x := &htmlExpander{tmpl: tmpl, src: string(src)}
	if len(tmpl.Templates()) == 1 && tmpl.Tree != nil {
		x.segs, _ = compileHTML(tmpl.Tree.Root)
	}
	return x, nil
}

func (x *htmlExpander) execute(buf *bytes.Buffer, data map[string]string) error {
	if x.segs != nil && executeHTMLFast(x.segs, buf, data) {
		return nil
	}
	return x.tmpl.Execute(&capped{buf: buf, limit: buf.Len() + MaxRendered}, data)
}

// fields adds the data keys the HTML body refers to.
func (x *htmlExpander) fields(set map[string]struct{}) {
	for _, t := range x.tmpl.Templates() {
		if t.Tree != nil && t.Tree.Root != nil {
			walkFields(t.Tree.Root, set)
		}
	}
}

// references reports whether the HTML source mentions cid:id.
func (x *htmlExpander) references(id string) bool {
	return strings.Contains(x.src, "cid:"+id)
}
