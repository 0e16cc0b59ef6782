package templates

import (
	"bytes"
	"testing"
)

// normalizeBodyRef is the plain version normalizeBody must agree with:
// every CR, LF or CRLF ends a line; a line over 76 bytes, or one with a
// byte that is not 7-bit ASCII or is NUL, asks for quoted-printable.
func normalizeBodyRef(src []byte) ([]byte, bool) {
	var dst []byte
	qp := false
	for len(src) > 0 {
		end := bytes.IndexAny(src, "\r\n")
		if end < 0 {
			end = len(src)
		}
		line := src[:end]
		for _, c := range line {
			qp = qp || c == 0 || c >= 0x80
		}
		qp = qp || len(line) > 76
		dst = append(dst, line...)
		dst = append(dst, '\r', '\n')
		src = src[end:]
		if bytes.HasPrefix(src, []byte("\r\n")) {
			src = src[2:]
		} else if len(src) > 0 {
			src = src[1:]
		}
	}
	return dst, qp
}

func FuzzNormalizeBody(f *testing.F) {
	for _, s := range []string{"", "a", "a\nb", "a\r\nb\r\n", "a\rb\n\r", "\x00abcdefgh", "abcdefg\x80",
		"12345678\x00", "exactly seventy-six bytes ..........................................................",
		"\r\r\n\n", "é", "line\x7f\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		got, gotQP := normalizeBody([]byte("prefix"), src)
		want, wantQP := normalizeBodyRef(src)
		if !bytes.Equal(got, append([]byte("prefix"), want...)) || gotQP != wantQP {
			t.Fatalf("normalizeBody(%q) = %q %v, want %q %v", src, got, gotQP, want, wantQP)
		}
	})
}
