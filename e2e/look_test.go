package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mailblast/mailblast/sender/sendertest"
)

const mixedList = "email,first_name,n\n" +
	"ann@example.com,Ann,1\n" + // row 2: fine
	"not-an-address,Bad,2\n" + // row 3: invalid
	"ANN@example.com,Ann again,3\n" + // row 4: duplicate of row 2
	"sup@example.com,Sup,4\n" + // row 5: suppressed
	"bob@bücher.example,Bob,5\n" + // row 6: fine (IDN)
	"a@b,Nodot,6\n" // row 7: invalid

// TestValidate: validate prints rows fine and skipped by reason with their
// rows, connects nowhere, writes no campaign, and exits 65 when nothing can
// be sent or the template fails.
func TestValidate(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 0)
	w.write("list.csv", mixedList)
	out := w.mustRun(0, "validate", "list.csv")
	for _, want := range []string{
		"list.csv: 6 rows: 3 to send, 3 skipped",
		"duplicate of an earlier row (sent once, to the first): row 4",
		"row 3", "row 7", "domain has no dot",
		"template: renders for every row to send",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(w.dir, "state", "ledger.db")); err == nil {
		t.Errorf("validate created a ledger")
	}
	w.mustRun(0, "suppress", "add", "sup@example.com", "--reason", "unsubscribed")
	out = w.mustRun(0, "validate", "list.csv")
	if !strings.Contains(out, "2 to send, 4 skipped") || !strings.Contains(out, "suppressed: unsubscribed: row 5") {
		t.Errorf("validate with a suppression:\n%s", out)
	}
	if s := w.mustRun(0, "status", "--json"); strings.TrimSpace(s) != "" {
		t.Errorf("validate left a campaign: %s", s)
	}

	// Nothing sendable: 65.
	w.write("bad.csv", "email,first_name,n\nnope,A,1\nsup@example.com,B,2\n")
	out, stderr, code := w.run("validate", "bad.csv")
	if code != 65 || !strings.Contains(out, "0 to send, 2 skipped") || !strings.Contains(stderr, "no row") {
		t.Errorf("nothing to send: exit %d\n%s%s", code, out, stderr)
	}
	// A template that fails for the rows: 65, naming the column and a row.
	w.write("broken.tmpl", "From: a@example.com\nSubject: Hi {{.last_name}}\n\nbody\n")
	out, stderr, code = w.run("validate", "list.csv", "--template", "broken.tmpl")
	if code != 65 || !strings.Contains(stderr, "last_name") || !strings.Contains(out, "template errors:") || !strings.Contains(out, "rows 2, 6") {
		t.Errorf("broken template: exit %d\n%s%s", code, out, stderr)
	}
	if srv.Connections() != 0 {
		t.Errorf("validate connected to the relay %d times", srv.Connections())
	}
}

// TestPreviewMatchesSent: preview prints the bytes the relay received for
// that row, but for the Date header.
func TestPreviewMatchesSent(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 5)
	before := w.mustRun(0, "preview", "list.csv", "--row", "4")
	w.mustRun(0, "send", "list.csv")
	got := srv.ByRecipient()["user3@example.com"]
	if len(got) != 1 {
		t.Fatalf("user3 got %d messages", len(got))
	}
	preview := w.mustRun(0, "preview", "list.csv", "--row", "4")
	if a, b := withoutDate(preview), withoutDate(string(got[0].Data)); a != b {
		t.Errorf("preview differs from the message sent:\n--- preview\n%s\n--- sent\n%s", a, b)
	}
	if !strings.Contains(preview, "Subject: Hello Name3 #3") {
		t.Errorf("preview of row 4 is not user3's:\n%s", preview)
	}
	// Before the campaign existed, only the Message-ID differed (and Date).
	if a, b := withoutHeader(before, "Date", "Message-ID"), withoutHeader(preview, "Date", "Message-ID"); a != b {
		t.Errorf("preview before send differs beyond Date and Message-ID:\n%s\n---\n%s", a, b)
	}
	// The first data row by default; the header row and rows past the end are usage errors.
	if first := w.mustRun(0, "preview", "list.csv"); !strings.Contains(first, "To: <user1@example.com>") {
		t.Errorf("default row:\n%s", first)
	}
	w.mustRun(64, "preview", "list.csv", "--row", "1")
	w.mustRun(64, "preview", "list.csv", "--row", "99")
}

var dateLine = regexp.MustCompile(`(?m)^Date: [^\r\n]*\r?\n`)

func withoutDate(msg string) string { return dateLine.ReplaceAllString(msg, "") }

func withoutHeader(msg string, names ...string) string {
	for _, n := range names {
		msg = regexp.MustCompile(`(?m)^`+n+`: [^\r\n]*\r?\n`).ReplaceAllString(msg, "")
	}
	return msg
}

// TestDryRun: send --dry-run writes one file per sendable row, the bytes
// send would build, and leaves no campaign and sends nothing.
func TestDryRun(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 0)
	w.write("list.csv", mixedList)
	out := w.mustRun(0, "send", "list.csv", "--dry-run", "out")
	if !strings.Contains(out, "3 to send, 3 skipped") || !strings.Contains(out, "3 messages written") {
		t.Errorf("dry run summary:\n%s", out)
	}
	files, _ := filepath.Glob(filepath.Join(w.dir, "out", "*.eml"))
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	// Rows 3 and 7 are invalid, row 4 repeats row 2.
	want := "[000002-ann@example.com.eml 000005-sup@example.com.eml 000006-bob@xn--bcher-kva.example.eml]"
	if fmt.Sprint(names) != want {
		t.Errorf("files %v, want %s", names, want)
	}
	data, _ := os.ReadFile(filepath.Join(w.dir, "out", "000006-bob@xn--bcher-kva.example.eml"))
	if !bytes.Contains(data, []byte("To: <bob@xn--bcher-kva.example>\r\n")) || !bytes.Contains(data, []byte("Subject: Hello Bob #5\r\n")) {
		t.Errorf("dry-run message:\n%s", data)
	}
	if srv.Connections() != 0 {
		t.Errorf("dry run connected to the relay")
	}
	if _, err := os.Stat(filepath.Join(w.dir, "state", "ledger.db")); err == nil {
		t.Errorf("dry run created a ledger")
	}
	if s := w.mustRun(0, "status", "--json"); strings.TrimSpace(s) != "" {
		t.Errorf("dry run left a campaign: %s", s)
	}
	// The dry run needs no relay settings.
	w.env = append(w.env, "MAILBLAST_SMTP_HOST=")
	w.mustRun(0, "send", "list.csv", "--dry-run", "out2")
}
