package templates

import (
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
		{"utf8", strings.Replace(benchTemplate, "changed", "changé", -1)},
		{"funcs", strings.Replace(benchTemplate, "Hello {{.first_name}}", `Hello {{default "friend" .first_name | title}}`, 1)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tmpl, err := Parse("bench.tmpl", []byte(bc.src))
			if err != nil {
				b.Fatal(err)
			}
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
		})
	}
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
