package recipients

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/mailblast/mailblast/safefile"
)

const (
	defaultMaxField = 1 << 20
	bufSize         = 64 << 10
)

// Options tune how a list is read. The zero value is ready to use.
type Options struct {
	EmailColumn   string // header name of the address column; "" means "email". Matched case-insensitively after trimming spaces.
	MaxFieldBytes int    // 0 (or less) means 1<<20 (1 MiB); a longer field is an *Error
}

// Row is one data record.
type Row struct {
	Num int // spreadsheet row number: the header is row 1, the first data record row 2
	// Offset is where the reader began looking for this record: the record
	// itself, or blank lines just before it. ReadAt accepts either.
	Offset int64
	Fields map[string]string // header name -> value; a fresh map the caller may keep
	Email  string            // value of the email column, spaces trimmed
}

// Reader reads a recipient list. See the package documentation for the flow.
type Reader struct {
	comma rune // the field separator, detected from the header row
	path  string
	f     *os.File
	src   *guardedFile
	br    *bufio.Reader
	csv   *csv.Reader
	base  int64 // file offset where csv started reading

	header    []string
	emailIdx  int
	maxField  int
	rowLimit  int64 // most raw bytes a valid data record can take
	dataStart int64 // file offset just after the header row

	num       int   // row number of the last record consumed
	lineKnown bool  // csv's line numbers are the file's: no seek yet
	err       error // sticky: after it the position in the file is unknown
	closed    bool
}

// Open opens path, reads and validates the header row.
func Open(path string, opts Options) (*Reader, error) {
	f, err := safefile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("recipient list: %w", err)
	}
	r := &Reader{path: path, f: f, maxField: opts.MaxFieldBytes, lineKnown: true}
	if r.maxField <= 0 {
		r.maxField = defaultMaxField
	}
	r.src = &guardedFile{f: f, stop: headerLimit(r.maxField) + bufSize}
	r.br = bufio.NewReaderSize(r.src, bufSize)
	if err := r.start(opts.EmailColumn); err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

// start reads everything before the first data record.
func (r *Reader) start(emailColumn string) error {
	if err := r.skipBOM(); err != nil {
		return err
	}
	r.comma = detectComma(r.br)
	r.csv = r.newCSV(0) // 0: csv takes the count from the header row
	rec, _, err := r.readRecord(1, headerLimit(r.maxField))
	if err == io.EOF {
		return &Error{Path: r.path, Err: ErrEmpty}
	}
	if err != nil {
		return err
	}
	if err := r.setHeader(rec, emailColumn); err != nil {
		return err
	}
	r.num = 1
	r.dataStart = r.offset()
	r.rowLimit = rowLimit(len(r.header), r.maxField)
	return nil
}

// skipBOM drops a UTF-8 byte order mark. Offsets stay file offsets, so
// csv's count starts at the mark's length.
func (r *Reader) skipBOM() error {
	head, err := r.br.Peek(3)
	if err != nil && err != io.EOF {
		return &Error{Path: r.path, Err: fmt.Errorf("read: %w", err)}
	}
	switch {
	case bytes.HasPrefix(head, []byte("\xef\xbb\xbf")):
		_, _ = r.br.Discard(3) // cannot fail: Peek returned these bytes
		r.base = 3
	case bytes.HasPrefix(head, []byte("\xff\xfe")), bytes.HasPrefix(head, []byte("\xfe\xff")):
		return r.newError(1, "", 1, errUTF16Hint)
	}
	return nil
}

// detectComma picks the header row's separator: a comma, or else the
// semicolon that Excel writes in many locales, or a tab, whichever the
// header holds most of outside quotes. A header with no separator at all
// (one column) stays comma-separated.
func detectComma(br *bufio.Reader) rune {
	head, _ := br.Peek(4096)
	if i := bytes.IndexByte(head, '\n'); i >= 0 {
		head = head[:i]
	}
	counts := map[rune]int{}
	quoted := false
	for _, b := range head {
		switch {
		case b == '"':
			quoted = !quoted
		case !quoted && (b == ',' || b == ';' || b == '\t'):
			counts[rune(b)]++
		}
	}
	best := ','
	for _, c := range []rune{';', '\t'} {
		if counts[c] > counts[best] {
			best = c
		}
	}
	return best
}

// newCSV makes a csv.Reader over the shared buffer. csv.NewReader keeps a
// *bufio.Reader as it is, so r.br is the only buffer and InputOffset counts
// bytes taken from it.
func (r *Reader) newCSV(fields int) *csv.Reader {
	c := csv.NewReader(r.br)
	c.Comma = r.comma
	c.ReuseRecord = true
	c.FieldsPerRecord = fields
	return c
}

// offset is the file offset of the next record.
func (r *Reader) offset() int64 { return r.base + r.csv.InputOffset() }

// Header returns the header names, without a byte order mark or
// surrounding spaces.
func (r *Reader) Header() []string { return append([]string(nil), r.header...) }

// EmailColumn returns the header name used for addresses, as the file spells it.
func (r *Reader) EmailColumn() string { return r.header[r.emailIdx] }

// Next returns the next data row, or io.EOF after the last.
func (r *Reader) Next() (Row, error) {
	if err := r.usable(); err != nil {
		return Row{}, err
	}
	return r.next(r.num + 1)
}

// ReadAt re-reads the single record that starts at offset (a Row.Offset from
// an earlier Next over the same, unchanged file) and numbers it num. Next then
// continues with the record after it, numbered num+1.
//
// Reading consecutive records in order costs no seek: the reader is already
// there.
func (r *Reader) ReadAt(offset int64, num int) (Row, error) {
	if r.closed {
		return Row{}, r.usable()
	}
	if offset < r.dataStart {
		return Row{}, r.newError(num, "", 0,
			fmt.Errorf("%w: offset %d is before the first data row at %d", ErrOffset, offset, r.dataStart))
	}
	if r.err != nil || offset != r.offset() {
		if err := r.seek(offset); err != nil {
			return Row{}, r.newError(num, "", 0, err)
		}
	}
	row, err := r.next(num)
	if err == io.EOF {
		err = r.newError(num, "", 0, fmt.Errorf("%w: %d is at or past the end of the file", ErrOffset, offset))
	}
	return row, err
}

// seek moves to offset and starts a fresh csv.Reader there, keeping the
// buffer. It also clears a sticky error: the position is known again.
func (r *Reader) seek(offset int64) error {
	if _, err := r.f.Seek(offset, io.SeekStart); err != nil {
		return fmt.Errorf("seek: %w", err)
	}
	r.src.pos = offset
	r.br.Reset(r.src)
	r.csv = r.newCSV(len(r.header))
	r.base = offset
	r.lineKnown = false
	r.err = nil
	return nil
}

// Close closes the file. Calling it again does nothing.
func (r *Reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	return r.f.Close()
}

// usable says why the reader cannot read at all, if it cannot.
func (r *Reader) usable() error {
	if r.closed {
		return &Error{Path: r.path, Err: fs.ErrClosed, fatal: true}
	}
	return r.err
}

// next reads, checks and returns the record at the current position as row num.
func (r *Reader) next(num int) (Row, error) {
	rec, offset, err := r.readRecord(num, r.rowLimit)
	if err == nil {
		err = r.checkFields(rec, num, r.columnName)
	}
	if r.err == nil && err != io.EOF {
		r.num = num // consumed, even if its data was bad
	}
	if err != nil {
		return Row{}, err
	}
	return r.row(rec, num, offset), nil
}

func (r *Reader) row(rec []string, num int, offset int64) Row {
	fields := make(map[string]string, len(rec))
	for i, v := range rec {
		fields[r.header[i]] = v
	}
	return Row{Num: num, Offset: offset, Fields: fields, Email: strings.TrimSpace(rec[r.emailIdx])}
}

func (r *Reader) columnName(i int) string { return r.header[i] }

// readRecord reads one raw record as row num, allowing it limit bytes in the
// file. It returns the offset where the record starts, and io.EOF or *Error.
func (r *Reader) readRecord(num int, limit int64) ([]string, int64, error) {
	offset := r.offset()
	r.src.stop = offset + limit + bufSize // the buffer may read ahead by bufSize
	rec, err := r.csv.Read()
	if err != nil {
		return nil, offset, r.readError(num, rec, err, limit)
	}
	return rec, offset, nil
}

// readError turns what csv.Read returned into an *Error. A wrong field count
// leaves csv at the next record; anything else is fatal and sticky.
func (r *Reader) readError(num int, rec []string, err error, limit int64) error {
	if err == io.EOF {
		return err
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) && pe.Err == csv.ErrFieldCount {
		return r.newError(num, "", pe.StartLine,
			fmt.Errorf("%w: expected %d, found %d", ErrFieldCount, len(r.header), len(rec)))
	}
	var e *Error
	switch {
	case errors.As(err, &pe):
		e = r.newError(num, "", pe.Line, pe.Err)
	case errors.Is(err, errRunaway):
		e = r.newError(num, "", 0,
			fmt.Errorf("%w: the row goes on past %d bytes (is a closing quote missing?)", ErrFieldTooLong, limit))
	default:
		e = r.newError(num, "", 0, fmt.Errorf("read: %w", err))
	}
	e.fatal = true
	r.err = e
	return e
}
