package templates

import (
	"errors"
	"testing"
)

// FuzzRender puts one data value in every kind of field. Render must not
// panic; when it succeeds the message must read back with From, To,
// Subject, Date and Message-ID exactly once and no field the template and
// the builder did not write.
func FuzzRender(f *testing.F) {
	tmpl, err := Parse("fuzz.tmpl", []byte(`From: {{.v}} <news@acme.example>
Subject: Hello {{.v}}
Reply-To: {{.v}}
X-Note: {{.v}}
List-Unsubscribe: <https://acme.example/u/{{.v}}>

Dear {{.v}},
{{title .v}} {{upper .v}} {{default "x" .v}}
`))
	if err != nil {
		f.Fatal(err)
	}
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
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		msg, err := tmpl.Render(map[string]string{"v": v}, testEnv)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error is not a FieldError: %v", err)
			}
			if msg != nil {
				t.Fatalf("message returned with error %v", err)
			}
			return
		}
		readBack(t, msg, tmpl)
	})
}
