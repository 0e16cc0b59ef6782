package templates

// appendQP appends src encoded as quoted-printable, exactly as
// mime/quotedprintable's Writer writes it and then closes (text mode:
// CR, LF and CRLF become CRLF; lines of at most 76 characters, soft
// breaks included; a space or tab before a line end encoded). Going
// through that Writer cost one call per input byte and one Write through
// go-message's part writers per output line; this appends runs of plain
// bytes at once. TestAppendQPMatches compares the two.
func appendQP(dst, src []byte) []byte {
	q := qpEncoder{dst: dst}
	for k := 0; k < len(src); {
		switch c := src[k]; qpClass[c] {
		case qpPlain:
			j := k + 1
			for j < len(src) && qpClass[src[j]] == qpPlain {
				j++
			}
			q.plain(src[k:j])
			k = j
			continue
		case qpLineEnd:
			q.lineEnd(c)
		default:
			q.encode(c)
		}
		k++
	}
	q.trailingSpace()
	return q.dst
}

// qpMaxLine is the longest line, the soft break's "=" included.
const qpMaxLine = 76

const (
	qpEscape  = iota // written as =XX
	qpPlain          // written as it is: printable ASCII but '=', space, tab
	qpLineEnd        // CR or LF
)

var qpClass = func() (t [256]uint8) {
	for c := '!'; c <= '~'; c++ {
		t[c] = qpPlain
	}
	t['='] = qpEscape
	t[' '], t['\t'] = qpPlain, qpPlain
	t['\r'], t['\n'] = qpLineEnd, qpLineEnd
	return t
}()

// qpEncoder is mime/quotedprintable.Writer's state, with the line being
// built kept at the end of dst instead of in a buffer of its own.
type qpEncoder struct {
	dst []byte
	n   int  // length of the current line
	cr  bool // the last line end was a CR: an LF right after it is its part
}

// plain appends bytes written as they are, with a soft break wherever a
// line would pass 75 characters.
func (q *qpEncoder) plain(b []byte) {
	for len(b) > 0 {
		if q.n == qpMaxLine-1 {
			q.softBreak()
		}
		k := min(len(b), qpMaxLine-1-q.n)
		q.dst = append(q.dst, b[:k]...)
		q.n += k
		b = b[k:]
	}
	q.cr = false
}

func (q *qpEncoder) lineEnd(c byte) {
	if q.cr && c == '\n' {
		q.cr = false
		return
	}
	q.cr = c == '\r'
	q.trailingSpace()
	q.dst = append(q.dst, '\r', '\n')
	q.n = 0
}

// encode appends =XX, after a soft break if it would not fit.
func (q *qpEncoder) encode(c byte) {
	if qpMaxLine-1-q.n < 3 {
		q.softBreak()
	}
	q.dst = append(q.dst, '=', upperHex[c>>4], upperHex[c&0x0f])
	q.n += 3
}

const upperHex = "0123456789ABCDEF"

func (q *qpEncoder) softBreak() {
	q.dst = append(q.dst, '=', '\r', '\n')
	q.n = 0
}

// trailingSpace encodes a space or tab that ends a line, which transport
// could strip.
func (q *qpEncoder) trailingSpace() {
	if q.n == 0 {
		return
	}
	if c := q.dst[len(q.dst)-1]; c == ' ' || c == '\t' {
		q.dst = q.dst[:len(q.dst)-1]
		q.n--
		q.encode(c)
	}
}
