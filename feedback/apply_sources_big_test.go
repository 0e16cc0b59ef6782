package feedback

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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

// A FIFO among a Maildir's messages is named as unreadable and passed
// over; opening it must not wait for a writer that never comes.
func TestReadMaildirFIFO(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"new", "cur"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "new", "1.fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "new", "2.eml"), []byte("Subject: x\n\nhi\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan []error, 1)
	go func() {
		var errs []error
		_ = ReadMailbox(dir, nil, func(m Message, err error) error { errs = append(errs, err); return nil })
		done <- errs
	}()
	select {
	case errs := <-done:
		if len(errs) != 2 || errs[0] == nil || errs[1] != nil {
			t.Errorf("errors %v: want the FIFO refused, the message read", errs)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("reading a Maildir with a FIFO in it hangs")
	}
}
