package recipients

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors, found inside an *Error with errors.Is.
var (
	ErrEmpty           = errors.New("empty file: no header row")
	ErrEmptyColumn     = errors.New("empty column name")
	ErrDuplicateColumn = errors.New("duplicate column name")
	ErrNoEmailColumn   = errors.New("no email column")
	ErrInvalidUTF8     = errors.New("invalid UTF-8")
	ErrNUL             = errors.New("NUL byte")
	ErrFieldTooLong    = errors.New("field too long")
	ErrFieldCount      = errors.New("wrong number of fields")
	ErrOffset          = errors.New("no record at this offset")
)

// The hints are built once: these checks run on every field, and a bad file
// can fail on every row a caller chooses to skip.
var (
	errUTF8Hint  = fmt.Errorf("%w (is the file Windows-1252? save it as \"CSV UTF-8\")", ErrInvalidUTF8)
	errUTF16Hint = fmt.Errorf("%w (the file is UTF-16: save it as \"CSV UTF-8\")", ErrInvalidUTF8)
	errNULHint   = fmt.Errorf("%w (is the file UTF-16? save it as \"CSV UTF-8\")", ErrNUL)
)

// Error says where in a recipient list a problem is, in the terms of a
// spreadsheet: row 1 is the header row, and a record whose quoted field spans
// several lines is still one row.
type Error struct {
	Path   string
	Row    int    // 0 when the problem is the whole file
	Column string // header name, "#3" for the third column, "" for the whole row
	Line   int    // line in the file, for text editors; 0 when unknown
	Err    error

	fatal bool // see Fatal
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Path)
	sep := ": "
	if e.Row > 0 {
		fmt.Fprintf(&b, ": row %d", e.Row)
		// Lines drift from rows after multi-line fields or blank lines; only
		// then is the line worth the reader's attention.
		if e.Line > 0 && e.Line != e.Row {
			fmt.Fprintf(&b, " (line %d)", e.Line)
		}
		sep = ", "
	}
	if e.Column != "" {
		fmt.Fprintf(&b, "%scolumn %q", sep, e.Column)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Fatal reports whether Next cannot go on past this error: the CSV syntax is
// broken (a stray or missing quote), a record runs on past any valid length,
// the file cannot be read, or the Reader is closed. Next then keeps returning
// the error; only ReadAt to a known offset recovers. Errors that are not fatal
// are confined to their row, and Next continues with the next one.
func (e *Error) Fatal() bool { return e.fatal }

// newError builds an *Error for row num. line comes from encoding/csv, which
// counts from where it started reading: after a seek that is not line 1.
func (r *Reader) newError(num int, column string, line int, err error) *Error {
	e := &Error{Path: r.path, Row: num, Column: column, Err: err}
	if r.lineKnown {
		e.Line = line
	}
	return e
}

// position names a column by place, for when its name is the problem.
func position(i int) string { return fmt.Sprintf("#%d", i+1) }
