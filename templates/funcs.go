package templates

import (
	"strings"
	"text/template"
	"time"
	"unicode"
	"unicode/utf8"
)

// funcs are the functions available to templates, text and HTML alike.
// They only transform their arguments or read the clock: no files, no
// environment, no processes. Where a function takes the value and another
// argument, the value comes last so that it can be piped:
// {{.city | replace "St." "Saint"}}.
var funcs = template.FuncMap{
	"default":   defaultValue,
	"upper":     strings.ToUpper,
	"lower":     strings.ToLower,
	"title":     title,
	"trim":      strings.TrimSpace,
	"replace":   replace,
	"contains":  contains,
	"hasPrefix": hasPrefix,
	"hasSuffix": hasSuffix,
	"truncate":  truncate,
	"split":     split,
	"now":       time.Now,
	"date":      date,
}

// replace returns s with every old replaced by new.
func replace(old, new, s string) string { return strings.ReplaceAll(s, old, new) }

// contains reports whether substr is within s: {{if contains "vip" .tags}}.
func contains(substr, s string) bool { return strings.Contains(s, substr) }

func hasPrefix(prefix, s string) bool { return strings.HasPrefix(s, prefix) }

func hasSuffix(suffix, s string) bool { return strings.HasSuffix(s, suffix) }

// truncate returns the first n characters (runes) of s, or s when it is no
// longer; nothing when n is negative. It adds no ellipsis.
func truncate(n int, s string) string {
	if n <= 0 {
		return ""
	}
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// split splits s around each sep, for {{range split ";" .products}}.
// An empty s gives no elements.
func split(sep, s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, sep)
}

// date formats the current local time with a Go layout:
// {{date "2 January 2006"}}.
func date(layout string) string { return time.Now().Format(layout) }

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
