package recipients

import (
	"fmt"
	"strings"
)

// setHeader checks the header row and records the names and which one holds
// addresses.
func (r *Reader) setHeader(rec []string, emailColumn string) error {
	if err := r.checkFields(rec, 1, position); err != nil {
		return err
	}
	names := make([]string, len(rec))
	seen := make(map[string]int, len(rec)) // folded name -> column index
	for i, v := range rec {
		names[i] = strings.TrimSpace(v)
		if err := r.checkName(names, i, seen); err != nil {
			return err
		}
		seen[fold(names[i])] = i
	}
	want := strings.TrimSpace(emailColumn)
	if want == "" {
		want = "email"
	}
	idx, ok := seen[fold(want)]
	if !ok {
		return r.newError(1, "", 0, fmt.Errorf("%w: looked for %q, found %s", ErrNoEmailColumn, want, quoteList(names)))
	}
	r.header, r.emailIdx = names, idx
	return nil
}

// checkName checks names[i] against being empty or seen before.
func (r *Reader) checkName(names []string, i int, seen map[string]int) error {
	line, _ := r.csv.FieldPos(i)
	if names[i] == "" {
		return r.newError(1, position(i), line, ErrEmptyColumn)
	}
	if j, dup := seen[fold(names[i])]; dup {
		return r.newError(1, names[i], line,
			fmt.Errorf("%w: column %s is also %q", ErrDuplicateColumn, position(j), names[j]))
	}
	return nil
}

// fold is the case-insensitive key for header names: "Email" and "EMAIL"
// are the same column to anyone looking at the spreadsheet.
func fold(s string) string { return strings.ToLower(s) }

// quoteList lists names for an error message, cut short for very wide files.
func quoteList(names []string) string {
	const most = 20
	var b strings.Builder
	for i, n := range names[:min(len(names), most)] {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", n)
	}
	if len(names) > most {
		fmt.Fprintf(&b, " and %d more", len(names)-most)
	}
	return b.String()
}
