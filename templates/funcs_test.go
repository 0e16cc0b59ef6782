package templates

import (
	"bytes"
	"testing"
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
