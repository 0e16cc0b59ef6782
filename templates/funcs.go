package templates

import (
	"strings"
	"text/template"
	"unicode"
	"unicode/utf8"
)

// funcs are the functions available to templates. They only transform
// strings: no I/O, no access to anything but their arguments.
var funcs = template.FuncMap{
	"default": defaultValue,
	"upper":   strings.ToUpper,
	"lower":   strings.ToLower,
	"title":   title,
	"trim":    strings.TrimSpace,
}

// defaultValue returns fallback when v is empty or only whitespace. The value
// comes last so that both {{default "friend" .name}} and
// {{.name | default "friend"}} work.
func defaultValue(fallback, v string) string {
	if strings.TrimSpace(v) == "" {
		return fallback
	}
	return v
}

// title capitalises the first letter of every word and leaves the rest as it
// is: "jean-luc o'neil" becomes "Jean-Luc O'neil". A word starts after any
// rune that is not a letter, digit, combining mark or apostrophe, so "don't"
// stays "Don't". Use {{title (lower .x)}} for input in capitals.
func title(s string) string {
	var b strings.Builder
	inWord := false
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !inWord && unicode.IsLetter(r) {
			if t := unicode.ToTitle(r); t != r {
				if b.Cap() == 0 {
					b.Grow(len(s) + utf8.UTFMax)
					b.WriteString(s[:i])
				}
				b.WriteRune(t)
				i += n
				inWord = true
				continue
			}
		}
		if b.Cap() > 0 {
			b.WriteString(s[i : i+n])
		}
		inWord = unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) || r == '\'' || r == '’'
		i += n
	}
	if b.Cap() == 0 {
		return s
	}
	return b.String()
}
