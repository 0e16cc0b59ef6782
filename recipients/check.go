package recipients

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"unicode/utf8"
)

// checkFields checks every field of row num; name gives the column name used
// in an error.
func (r *Reader) checkFields(rec []string, num int, name func(int) string) error {
	for i, v := range rec {
		if err := checkField(v, r.maxField); err != nil {
			line, _ := r.csv.FieldPos(i)
			return r.newError(num, name(i), line, err)
		}
	}
	return nil
}

// checkField runs on every field of every row, so the common case is three
// cheap tests and no allocation.
func checkField(v string, limit int) error {
	switch {
	case len(v) > limit:
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrFieldTooLong, len(v), limit)
	case strings.IndexByte(v, 0) >= 0:
		return errNULHint
	case !utf8.ValidString(v):
		return errUTF8Hint
	}
	return nil
}

// rowLimit is the most file bytes a valid record of fields fields can take:
// each field at most maxField bytes, every byte doubled ("" or \r\n), two
// quotes and a comma, then a line end. It is capped so sums cannot overflow.
func rowLimit(fields, maxField int) int64 {
	const most = 1 << 50
	per := 2*int64(min(maxField, 1<<40)) + 3
	if int64(fields) > most/per {
		return most
	}
	return int64(fields)*per + 2
}

// headerLimit bounds the header row before its width is known: generous
// for real headers, small enough that a missing quote is caught early.
func headerLimit(maxField int) int64 {
	return max(4<<20, rowLimit(1, maxField))
}

// guardedFile is the file as the buffer sees it. It tracks the file position
// and refuses to read far past the start of the current record, so an
// unclosed quote cannot pull the rest of a huge file into csv's buffer.
type guardedFile struct {
	f    *os.File
	pos  int64 // file offset of the next Read
	stop int64 // Read fails once pos gets here
}

var errRunaway = errors.New("record too long")

func (g *guardedFile) Read(p []byte) (int, error) {
	if g.pos >= g.stop {
		return 0, errRunaway
	}
	// Never read past stop, so how far we read cannot depend on p's size.
	p = p[:min(int64(len(p)), g.stop-g.pos)]
	n, err := g.f.Read(p)
	g.pos += int64(n)
	return n, err
}
