package feedback

import (
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"
)

// allocLimit is what one Parse of a hostile input may allocate in all.
// Reading 10 MiB from a pipe costs about twice that while the buffer
// grows (once, from a file); the parts are read as they stream.
const allocLimit = 64 << 20

// parseMeasured parses in, from a reader that tells its size and from
// one that does not (a pipe), and returns the report and the most bytes
// either allocated.
func parseMeasured(t *testing.T, in []byte) (Report, uint64, error) {
	t.Helper()
	var most uint64
	var rep Report
	var err error
	for _, r := range []io.Reader{bytes.NewReader(in), struct{ io.Reader }{bytes.NewReader(in)}} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		rep, err = Parse(r)
		runtime.ReadMemStats(&after)
		most = max(most, after.TotalAlloc-before.TotalAlloc)
	}
	t.Logf("%d bytes in: class %s, %d events, %d skipped, truncated %v, at most %.1f MB allocated",
		len(in), rep.Class, len(rep.Events), rep.SkippedBlocks, rep.Truncated, float64(most)/1e6)
	if most > allocLimit {
		t.Errorf("allocated %d bytes, limit %d", most, allocLimit)
	}
	return rep, most, err
}

// nested is a multipart/mixed nested depth levels deep.
func nested(depth int) string {
	var b strings.Builder
	for i := depth; i > 0; i-- {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"b%d\"\n\n--b%d\n", i, i)
	}
	b.WriteString("Content-Type: text/plain\n\ndeep\n")
	for i := 1; i <= depth; i++ {
		fmt.Fprintf(&b, "--b%d--\n", i)
	}
	return b.String()
}

func TestParseDeepNesting(t *testing.T) {
	const depth = 10000
	// As the whole message: not a report, read no further than its header.
	rep, _, err := parseMeasured(t, []byte("From: x@example.org\n"+nested(depth)))
	if err != nil || rep.Class != ClassOther {
		t.Errorf("%+v, %v", rep, err)
	}
	// Inside a DSN, before its delivery-status part and as the returned
	// message: skipped over, never recursed into.
	dsn := "From: x@example.org\nContent-Type: multipart/report; report-type=delivery-status; boundary=top\n\n" +
		"--top\n" + nested(depth) +
		"\n--top\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; x\n\nFinal-Recipient: rfc822; y@example.org\nAction: failed\nStatus: 5.1.1\n" +
		"\n--top\nContent-Type: message/rfc822\n\nMessage-ID: <deep@example.org>\n" + nested(depth) + "\n--top--\n"
	rep, _, err = parseMeasured(t, []byte(dsn))
	if err != nil || rep.Class != ClassDSN || len(rep.Events) != 1 || rep.Events[0].MessageID != "deep@example.org" {
		t.Errorf("%+v, %v", rep, err)
	}
}

func TestParseManyBlocks(t *testing.T) {
	const blocks = 20000
	var b strings.Builder
	b.WriteString("From: x@example.org\nMessage-ID: <many@example.org>\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; x\n")
	for i := 0; i < blocks; i++ {
		fmt.Fprintf(&b, "\nFinal-Recipient: rfc822; u%d@example.org\nAction: failed\nStatus: 5.1.1\n", i)
	}
	b.WriteString("\n--b--\n")
	rep, _, err := parseMeasured(t, []byte(b.String()))
	if err != nil || len(rep.Events) != MaxRecipientBlocks || rep.SkippedBlocks != blocks-MaxRecipientBlocks {
		t.Fatalf("%d events, %d skipped, %v", len(rep.Events), rep.SkippedBlocks, err)
	}
	if last := rep.Events[len(rep.Events)-1]; last.Address != fmt.Sprintf("u%d@example.org", MaxRecipientBlocks-1) {
		t.Errorf("last event %+v", last)
	}
}

func TestParseHugeLine(t *testing.T) {
	line := strings.Repeat("x", 20<<20)
	// In the header: longer than the header bound, unreadable.
	rep, _, err := parseMeasured(t, []byte("Subject: "+line+"\n\nbody\n"))
	if rep.Class != ClassUnreadable || err == nil || !rep.Truncated {
		t.Errorf("header line: %+v, %v", rep.Class, err)
	}
	// In the returned message after the report: the report is read, the
	// rest cut at MaxMessageSize.
	dsn := dsnWith("Action: failed\nStatus: 5.1.1\n")
	dsn = strings.TrimSuffix(dsn, "--b--\n") + "--b\nContent-Type: message/rfc822\n\nMessage-ID: <big@example.org>\n\n" + line + "\n--b--\n"
	rep, _, err = parseMeasured(t, []byte(dsn))
	if err != nil || len(rep.Events) != 1 || rep.Events[0].MessageID != "big@example.org" || !rep.Truncated {
		t.Errorf("body line: %+v, %v", rep, err)
	}
	// In a field of the delivery-status part: the value is capped.
	rep, _, err = parseMeasured(t, []byte(dsnWith("Action: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; "+line[:8<<20]+"\n")))
	if err != nil || len(rep.Events) != 1 || len(rep.Events[0].Diagnostic) != maxDiagnostic {
		t.Errorf("field line: %+v, %v", rep.Class, err)
	}
	// A header section of many short fields is bounded the same way.
	many := strings.Repeat("X-A: b\n", 1<<20)
	rep, _, err = parseMeasured(t, []byte(many+"\nbody\n"))
	if rep.Class != ClassUnreadable || err == nil {
		t.Errorf("many fields: %+v, %v", rep.Class, err)
	}
}

func TestParseEmptyAndBinary(t *testing.T) {
	random := make([]byte, 4<<20)
	rand.New(rand.NewSource(1)).Read(random)
	for name, in := range map[string][]byte{
		"empty":      nil,
		"zeros":      make([]byte, 1<<20),
		"random":     random,
		"random+hdr": append([]byte("Content-Type: multipart/report; report-type=delivery-status; boundary=\"\x00\"\n\n"), random...),
	} {
		t.Run(name, func(t *testing.T) {
			rep, _, err := parseMeasured(t, in)
			if rep.Class != ClassUnreadable || err == nil {
				t.Errorf("%+v, %v; want unreadable", rep.Class, err)
			}
		})
	}
}

// FuzzParse: no panic on any input, and the report keeps its promises.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.eml"))
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(dsnWith("Action: failed\nStatus: 5.1.1\n")))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, in []byte) {
		rep, err := Parse(bytes.NewReader(in))
		if (err != nil) != (rep.Class == ClassUnreadable) {
			t.Fatalf("class %s with error %v", rep.Class, err)
		}
		if len(rep.Events) > 0 && rep.Class != ClassDSN && rep.Class != ClassARF {
			t.Fatalf("class %s with events", rep.Class)
		}
		if len(rep.Events) > MaxRecipientBlocks {
			t.Fatalf("%d events", len(rep.Events))
		}
		for _, ev := range rep.Events {
			checkEvent(t, ev)
		}
	})
}

func checkEvent(t *testing.T, ev Event) {
	t.Helper()
	if ev.Key == "" || ev.Source == "" || ev.Kind == "" {
		t.Fatalf("incomplete event %+v", ev)
	}
	if len(ev.Diagnostic) > maxDiagnostic {
		t.Fatalf("diagnostic of %d bytes", len(ev.Diagnostic))
	}
	for _, s := range []string{ev.Address, ev.Status, ev.Token, ev.MessageID, ev.Diagnostic} {
		if !utf8.ValidString(s) || strings.ContainsAny(s, "\r\n\x00\x1b") {
			t.Fatalf("unclean field %q in %+v", s, ev)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	for _, name := range []string{"postfix-hard.eml", "postfix-two-blocks-headers.eml", "arf-rfc5965.eml"} {
		data := readTestdata(b, name)
		b.Run(strings.TrimSuffix(name, ".eml"), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Parse(bytes.NewReader(data)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Many tiny parts before the report part: each costs a header map, so
// only the first maxReportParts parts are looked at.
func TestParseManyParts(t *testing.T) {
	var b strings.Builder
	b.WriteString("From: x@example.org\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\n\n")
	for b.Len() < 9<<20 {
		b.WriteString("--b\nX: y\n\n.\n")
	}
	b.WriteString("--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; x\n\nFinal-Recipient: rfc822; y@example.org\nAction: failed\nStatus: 5.1.1\n\n--b--\n")
	rep, _, err := parseMeasured(t, []byte(b.String()))
	if rep.Class != ClassUnreadable || err == nil {
		t.Errorf("%+v, %v; want unreadable", rep, err)
	}
}

// Blocks of many distinct short fields: bounded per block and in number.
func TestParseManyFields(t *testing.T) {
	var b strings.Builder
	b.WriteString("From: x@example.org\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; x\n")
	for i := 0; b.Len() < 9<<20; i++ {
		fmt.Fprintf(&b, "\nAction: failed\nStatus: 5.1.1\nFinal-Recipient: rfc822; u%d@example.org\n", i)
		for f := 0; f < 200; f++ {
			fmt.Fprintf(&b, "F%d: v\n", f)
		}
	}
	b.WriteString("\n--b--\n")
	rep, _, err := parseMeasured(t, []byte(b.String()))
	if err != nil || len(rep.Events) != MaxRecipientBlocks {
		t.Errorf("%d events, %v", len(rep.Events), err)
	}
}

// A bounce that returns a large original whole: only its header is read.
func TestParseLargeReturnedMessage(t *testing.T) {
	dsn := strings.TrimSuffix(dsnWith("Action: failed\nStatus: 5.1.1\n"), "--b--\n") +
		"--b\nContent-Type: message/rfc822\n\nMessage-ID: <large@example.org>\nSubject: attachment\n\n" +
		strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\n", 200000) + "--b--\n"
	rep, _, err := parseMeasured(t, []byte(dsn))
	if err != nil || len(rep.Events) != 1 || rep.Events[0].MessageID != "large@example.org" {
		t.Errorf("%+v, %v", rep, err)
	}
}
