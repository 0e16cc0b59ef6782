package feedback

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A bounce that returns a 40 MB original whole is read: its first
// MaxMessage bytes (the report is at the start) are handed over, in a
// file of its own and in an mbox, and the next message is still read.
func TestReadMailboxBigMessage(t *testing.T) {
	dir := t.TempDir()
	big := "Subject: bounce\n\nreport first\n" + strings.Repeat("x", 40<<20) + "\n"
	if err := os.WriteFile(filepath.Join(dir, "big.eml"), []byte(big), 0o600); err != nil {
		t.Fatal(err)
	}
	mbox := "From a@b Mon Jan  1 00:00:00 2026\n" + big + "\nFrom a@b Mon Jan  1 00:00:00 2026\nSubject: second\n\nhi\n"
	if err := os.WriteFile(filepath.Join(dir, "box.mbox"), []byte(mbox), 0o600); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]int{"big.eml": 1, "box.mbox": 2} {
		var got []Message
		err := ReadMailbox(filepath.Join(dir, file), nil, func(m Message, err error) error {
			if err != nil {
				t.Errorf("%s: message %d: %v", file, m.Number, err)
			}
			got = append(got, m)
			return nil
		})
		if err != nil || len(got) != want {
			t.Fatalf("%s: %d messages, %v; want %d", file, len(got), err, want)
		}
		if d := got[0].Data; len(d) > MaxMessage || !bytes.HasPrefix(d, []byte("Subject: bounce\n\nreport first\n")) {
			t.Errorf("%s: first message %d bytes, starting %.40q", file, len(d), d)
		}
		if want == 2 && !bytes.Contains(got[1].Data, []byte("Subject: second")) {
			t.Errorf("%s: the message after the big one: %.60q", file, got[1].Data)
		}
	}
}
