package templates

import (
	"bytes"
	"strings"
	"text/template"
	"text/template/parse"
)

// expander executes one template: a header value or the body.
//
// Most templates are text with {{.column}} actions. Those are also compiled
// to segments and expanded with map lookups, without text/template's
// reflection; anything else, and any missing key, goes through
// text/template, so results and errors are the same either way.
type expander struct {
	tmpl *template.Template
	segs []segment // nil unless fast
	fast bool
}

// segment is literal text or, when key is set, a map lookup.
type segment struct {
	text string
	key  string
}

// newExpander parses text found at line of the file name. A comment of
// line-1 newlines goes first, so that text/template reports lines of the
// file, not of the fragment.
func newExpander(name string, line int, text string) (*expander, error) {
	src := "{{/*" + strings.Repeat("\n", line-1) + "*/}}" + text
	tmpl, err := template.New(name).Funcs(funcs).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, err
	}
	x := &expander{tmpl: tmpl}
	x.segs, x.fast = compile(tmpl)
	return x, nil
}

// compile returns the segments of a template made only of text and
// {{.key}} actions.
func compile(tmpl *template.Template) ([]segment, bool) {
	if tmpl.Tree == nil || tmpl.Root == nil || len(tmpl.Templates()) > 1 {
		return nil, false
	}
	segs := make([]segment, 0, len(tmpl.Root.Nodes))
	for _, n := range tmpl.Root.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			segs = append(segs, segment{text: string(n.Text)})
		case *parse.ActionNode:
			key, ok := simpleField(n.Pipe)
			if !ok {
				return nil, false
			}
			segs = append(segs, segment{key: key})
		default:
			return nil, false
		}
	}
	return segs, true
}

// simpleField returns key for a pipeline that is exactly .key.
func simpleField(p *parse.PipeNode) (string, bool) {
	if p == nil || len(p.Decl) > 0 || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return "", false
	}
	f, ok := p.Cmds[0].Args[0].(*parse.FieldNode)
	if !ok || len(f.Ident) != 1 {
		return "", false
	}
	return f.Ident[0], true
}

// constant returns the text of a template without actions.
func (x *expander) constant() (string, bool) {
	if !x.fast {
		return "", false
	}
	var b strings.Builder
	for _, s := range x.segs {
		if s.key != "" {
			return "", false
		}
		b.WriteString(s.text)
	}
	return b.String(), true
}

// execute appends the output for data to buf. On error buf holds partial
// output.
func (x *expander) execute(buf *bytes.Buffer, data map[string]string) error {
	if x.fast {
		start := buf.Len()
		ok := true
		for _, s := range x.segs {
			if s.key == "" {
				buf.WriteString(s.text)
				continue
			}
			v, found := data[s.key]
			if !found {
				ok = false
				break
			}
			buf.WriteString(v)
		}
		if ok {
			return nil
		}
		buf.Truncate(start) // let text/template report the missing key
	}
	return x.tmpl.Execute(&capped{buf: buf, limit: buf.Len() + MaxRendered}, data)
}

// fields adds to set the data keys the template refers to: .key, $.key and
// index . "key", outside range and with (which move the dot).
func (x *expander) fields(set map[string]struct{}) {
	for _, t := range x.tmpl.Templates() {
		if t.Tree != nil && t.Root != nil {
			walkFields(t.Root, set)
		}
	}
}

func walkFields(n parse.Node, set map[string]struct{}) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			walkFields(c, set)
		}
	case *parse.ActionNode:
		walkFields(n.Pipe, set)
	case *parse.IfNode:
		walkFields(n.Pipe, set)
		walkFields(n.List, set)
		walkFields(n.ElseList, set)
	case *parse.RangeNode:
		walkFields(n.Pipe, set)
	case *parse.WithNode:
		walkFields(n.Pipe, set)
	case *parse.TemplateNode:
		walkFields(n.Pipe, set)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			walkFields(c, set)
		}
	case *parse.CommandNode:
		if len(n.Args) == 3 {
			if id, ok := n.Args[0].(*parse.IdentifierNode); ok && id.Ident == "index" {
				_, dot := n.Args[1].(*parse.DotNode)
				if s, ok := n.Args[2].(*parse.StringNode); ok && dot {
					set[s.Text] = struct{}{}
				}
			}
		}
		for _, a := range n.Args {
			walkFields(a, set)
		}
	case *parse.FieldNode:
		set[n.Ident[0]] = struct{}{}
	case *parse.VariableNode:
		if len(n.Ident) > 1 && n.Ident[0] == "$" {
			set[n.Ident[1]] = struct{}{}
		}
	}
}
