package templates

import (
	"bytes"
	"math/rand/v2"
	"mime/quotedprintable"
	"strings"
	"testing"
)

// TestAppendQPMatches compares appendQP with mime/quotedprintable's Writer
// on line ends of every kind, spaces before them, escapes at every column
// of a line, and random mixtures.
func TestAppendQPMatches(t *testing.T) {
	for _, s := range qpSamples() {
		checkQP(t, []byte(s))
	}
	rng := rand.New(rand.NewPCG(3, 4))
	pieces := []string{"a", "bc", "word ", " ", "\t", "=", "\r", "\n", "\r\n", "\n\r", "é", "\x00", "\xff", "~", "!",
		strings.Repeat("x", 70), strings.Repeat("y", 75), strings.Repeat("z", 76), " \r\n", "\t\n", "= ="}
	for range 5000 {
		var b []byte
		for range rng.IntN(20) {
			b = append(b, pieces[rng.IntN(len(pieces))]...)
		}
		checkQP(t, b)
	}
}

func qpSamples() []string {
	s := []string{"", " ", "\t", "\r", "\n", "\r\n", "\r\r\n", "\n\n", "a \r\nb", "a\t\n", "a ", "=", "é", "\x00\r\x00\n"}
	for n := 70; n <= 80; n++ {
		for _, tail := range []string{"", " ", "=", "é", "\r\n", " \r\n", "ab", "= x"} {
			s = append(s, strings.Repeat("x", n)+tail, strings.Repeat("é", n/2)+tail)
		}
	}
	return s
}

func checkQP(t *testing.T, src []byte) {
	t.Helper()
	var want bytes.Buffer
	w := quotedprintable.NewWriter(&want)
	w.Write(src)
	w.Close()
	got := appendQP([]byte("prefix"), src)
	if !bytes.Equal(got, append([]byte("prefix"), want.Bytes()...)) {
		t.Fatalf("appendQP(%q):\n%q\nmime/quotedprintable:\n%q", src, got[len("prefix"):], want.Bytes())
	}
}

// FuzzAppendQP is TestAppendQPMatches for any input.
func FuzzAppendQP(f *testing.F) {
	for _, s := range qpSamples() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) { checkQP(t, src) })
}
