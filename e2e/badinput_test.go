package e2e

import (
	"strings"
	"testing"

	"github.com/mailblast/mailblast/sender/sendertest"
)

// badInputTemplate uses first_name in a header and note only in the body.
const badInputTemplate = `From: Sender <news@example.com>
Subject: Hello {{.first_name}}

Dear {{.first_name}}, {{.note}}
`

// TestBadInput runs validate, then send, on each kind of bad list from the
// issue. Each either fails with exit 65 and an error naming the row (and
// the column, when one field is at fault), or gets the treatment the README
// documents: a row skipped with its reason, a BOM stripped, a newline kept.
func TestBadInput(t *testing.T) {
	const head = "email,first_name,note\n"
	const good = "ann@example.com,Ann,hi\n"
	for _, tc := range []struct {
		name string
		csv  string
		code int      // validate's and send's exit code
		want []string // in validate's output (stdout and stderr)
		sent int      // messages send delivers when code is 0
	}{
		// Line breaks: in a header value the row is skipped (never a new
		// header); in the body they are kept; in an address it is invalid.
		{"quoted CRLF in a header value", head + good + "bob@example.com,\"Bob\r\nBcc: x@example.org\",hi\n", 0,
			[]string{`not sent: header "Subject": value contains a line break: row 3`}, 1},
		{"bare CR in a header value", head + good + "bob@example.com,Bob\rBcc: x@example.org,hi\n", 0,
			[]string{`not sent: header "Subject": value contains a line break: row 3`}, 1},
		{"quoted newline in the body", head + good + "bob@example.com,Bob,\"line one\nline two\"\n", 0,
			[]string{"2 rows: 2 to send, 0 skipped"}, 2},
		{"quoted newline in the address", head + good + "\"bob@exa\nmple.com\",Bob,hi\n", 0,
			[]string{"invalid address", "row 3"}, 1},
		// Bytes that are not text: the whole list is refused, naming row and column.
		{"NUL byte", head + good + "bob@example.com,B\x00b,hi\n", 65,
			[]string{`row 3, column "first_name": NUL byte`}, 0},
		{"Windows-1252", head + "ann@example.com,Ren\xe9e,hi\n", 65,
			[]string{`row 2, column "first_name": invalid UTF-8`, "Windows-1252"}, 0},
		{"UTF-16", "\xff\xfee\x00m\x00a\x00i\x00l\x00\n\x00", 65, []string{"row 1", "UTF-16"}, 0},
		// A UTF-8 BOM (Excel's "CSV UTF-8") is stripped.
		{"UTF-8 BOM", "\xef\xbb\xbf" + head + good, 0, []string{"1 row: 1 to send"}, 1},
		// The header row.
		{"duplicate header names", "email,first_name,First_Name\n" + good, 65,
			[]string{`row 1, column "First_Name": duplicate column name`}, 0},
		{"empty header name", "email,,note\n" + good, 65, []string{`row 1, column "#2": empty column name`}, 0},
		{"no email column", "mail,first_name,note\n" + good, 65, []string{"row 1", "no email column"}, 0},
		{"empty file", "", 65, []string{"empty file"}, 0},
		// Missing columns: in a row, or one the template uses.
		{"row with a missing field", head + good + "bob@example.com,Bob\n", 65,
			[]string{"row 3", "wrong number of fields: expected 3, found 2"}, 0},
		{"column the template uses is missing", "email,first_name\nann@example.com,Ann\n", 65,
			[]string{`column "note"`}, 0},
		// Long fields: MaxFieldBytes is 1 MiB. A field a little over is named
		// by row and column; a 10 MB one trips the guard against a runaway
		// record first, which names the row only.
		{"2 MB field", head + "ann@example.com,Ann," + strings.Repeat("x", 2<<20) + "\n", 65,
			[]string{`row 2, column "note": field too long`}, 0},
		{"10 MB field", head + "ann@example.com,Ann," + strings.Repeat("x", 10<<20) + "\n", 65,
			[]string{"row 2", "field too long"}, 0},
		// Broken quoting stops the list at that row.
		{"unclosed quote", head + good + "bob@example.com,\"Bob,hi\n", 65, []string{"row 3"}, 0},
		{"stray quote", head + good + "bob@example.com,Bo\"b,hi\n", 65, []string{"row 3", `bare "`}, 0},
		// Harmless: blank lines, spaces around an address.
		{"blank lines and spaces", head + "\n" + good + "\n  bob@example.com  ,Bob,hi\n", 0,
			[]string{"2 rows: 2 to send, 0 skipped"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := sendertest.NewServer(t, sendertest.Options{})
			w := forServer(t, srv, 0)
			w.write("message.tmpl", badInputTemplate)
			w.write("list.csv", tc.csv)
			out, stderr, code := w.run("validate", "list.csv")
			if code != tc.code {
				t.Errorf("validate: exit %d, want %d\n%s%s", code, tc.code, out, stderr)
			}
			for _, want := range tc.want {
				if !strings.Contains(out+stderr, want) {
					t.Errorf("validate output lacks %q:\n%s%s", want, out, stderr)
				}
			}
			out, stderr, code = w.run("send", "list.csv")
			if code != tc.code {
				t.Errorf("send: exit %d, want %d\n%s%s", code, tc.code, out, stderr)
			}
			if tc.code != 0 {
				if srv.Connections() != 0 {
					t.Errorf("send connected to the relay with a bad list")
				}
				return
			}
			if srv.Count() != tc.sent {
				t.Errorf("send delivered %d, want %d", srv.Count(), tc.sent)
			}
		})
	}
}
