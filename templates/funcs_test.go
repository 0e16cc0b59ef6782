package templates

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestTitle(t *testing.T) {
	for in, want := range map[string]string{
		"":                   "",
		"ada lovelace":       "Ada Lovelace",
		"jean-luc picard":    "Jean-Luc Picard",
		"o'neil":             "O'neil",
		"don't stop":         "Don't Stop",
		"it’s fine":          "It’s Fine",
		"élodie łukasz":      "Élodie Łukasz",
		"ǆemal":              "ǅemal",
		"McDonald":           "McDonald",
		"ALREADY UPPER":      "ALREADY UPPER",
		"3rd floor, room 2b": "3rd Floor, Room 2b",
		"(hello) [world]":    "(Hello) [World]",
		"ñandú\tcafé":        "Ñandú\tCafé",
		"e\u0301cole":        "E\u0301cole",
		"bad \xff utf8":      "Bad \xff Utf8",
	} {
		if got := title(in); got != want {
			t.Errorf("title(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFuncs(t *testing.T) {
	tmpl := mustParse(t, `From: a@example.com
Subject: s

{{default "friend" .empty}}|{{default "friend" .blank}}|{{.name | default "friend"}}|{{upper .name}}|{{lower .name}}|{{title .lower}}|{{trim .padded}}|{{title (lower .shout)}}
`)
	data := map[string]string{
		"empty": "", "blank": " \t", "name": "Zoë", "lower": "zoë smith",
		"padded": "  x  ", "shout": "ZOË SMITH",
	}
	var out bytes.Buffer
	if err := tmpl.body.execute(&out, data); err != nil {
		t.Fatal(err)
	}
	want := "friend|friend|Zoë|ZOË|zoë|Zoë Smith|x|Zoë Smith\n"
	if out.String() != want {
		t.Errorf("got  %q\nwant %q", out.String(), want)
	}
}

func TestMoreFuncs(t *testing.T) {
	tmpl := mustParse(t, `From: a@example.com
Subject: s

{{replace "St." "Saint" .city}}|{{.city | replace "." "" | upper}}|{{if contains "vip" .tags}}VIP{{else}}-{{end}}|{{hasPrefix "Sa" .city}}|{{hasSuffix "Sa" .city}}|{{truncate 3 .name}}|{{truncate 10 .name}}|{{truncate 0 .name}}|{{range split ";" .items}}[{{.}}]{{end}}|{{range split ";" .empty}}x{{end}}
`)
	data := map[string]string{"city": "St. Louis", "tags": "new,vip", "name": "Zoë Smith", "items": "a;b;;c", "empty": ""}
	var out bytes.Buffer
	if err := tmpl.body.execute(&out, data); err != nil {
		t.Fatal(err)
	}
	want := "Saint Louis|ST LOUIS|VIP|false|false|Zoë|Zoë Smith||[a][b][][c]|\n"
	if out.String() != want {
		t.Errorf("got  %q\nwant %q", out.String(), want)
	}

	for in, want := range map[string]string{"": "", "abc": "ab", "日本語": "日本", "a\xffb": "a\xff"} {
		if got := truncate(2, in); got != want {
			t.Errorf("truncate(2, %q) = %q, want %q", in, got, want)
		}
	}
	if got := truncate(-1, "abc"); got != "" {
		t.Errorf("truncate(-1) = %q", got)
	}
}

func TestDateFuncs(t *testing.T) {
	tmpl := mustParse(t, "From: a@example.com\nSubject: {{date \"2006\"}}\n\n{{date \"2006-01-02\"}} {{now.Year}}\n")
	before := time.Now()
	msg, err := tmpl.Render(nil, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	p := readBack(t, msg, tmpl)
	after := time.Now()
	ok := func(got, layout string) bool { return got == before.Format(layout) || got == after.Format(layout) }
	if got, _ := p.header.Subject(); !ok(got, "2006") {
		t.Errorf("Subject %q", got)
	}
	day, year, _ := strings.Cut(strings.TrimSpace(p.body), " ")
	if !ok(day, "2006-01-02") || !ok(year, "2006") {
		t.Errorf("body %q", p.body)
	}
}

// The functions give templates no way to files, the environment or
// processes: every function is one of the list in doc.go.
func TestFuncsCurated(t *testing.T) {
	want := "contains date default hasPrefix hasSuffix lower now replace split title trim truncate upper"
	var names []string
	for name := range funcs {
		names = append(names, name)
	}
	slices.Sort(names)
	if got := strings.Join(names, " "); got != want {
		t.Errorf("funcs: %s\nwant %s (update doc.go with the list)", got, want)
	}
}
