package feedback_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailblast/mailblast/feedback"
)

type read struct {
	where string
	data  string
	err   error
}

func readAll(t *testing.T, path, stdin string) []read {
	t.Helper()
	var out []read
	err := feedback.ReadMailbox(path, strings.NewReader(stdin), func(m feedback.Message, err error) error {
		out = append(out, read{m.Where(), string(m.Data), err})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func write(t *testing.T, path, body string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestReadMbox: messages split at "From " lines after a blank line, an
// escaped >From loses one '>', each is numbered.
func TestReadMbox(t *testing.T) {
	mbox := "From a@x Mon Jan  1 00:00:00 2026\nSubject: 1\n\nbody\n>From here\n\n" +
		"From b@x Mon Jan  1 00:00:00 2026\r\nSubject: 2\r\n\r\nFrom inside, no blank line before? yes there is\r\n"
	for _, path := range []string{write(t, filepath.Join(t.TempDir(), "box"), mbox), "-"} {
		got := readAll(t, path, mbox)
		if len(got) != 3 {
			// The third "From " follows a blank line: it is a separator by mbox's own rule.
			t.Fatalf("%s: %d messages: %+v", path, len(got), got)
		}
		if got[0].data != "Subject: 1\n\nbody\nFrom here\n\n" || !strings.HasSuffix(got[1].where, "message 2") {
			t.Errorf("%s: %+v", path, got)
		}
	}
}

// TestReadMaildir: new/ and cur/ in name order; dot files and a directory
// without either are passed over or reported, never fatal.
func TestReadMaildir(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "cur", "2.eml"), "Subject: cur\n\n")
	write(t, filepath.Join(dir, "new", "1.eml"), "Subject: new\n\n")
	write(t, filepath.Join(dir, "new", ".hidden"), "x")
	if err := os.Mkdir(filepath.Join(dir, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, dir, "")
	if len(got) != 2 || got[0].data != "Subject: new\n\n" || got[1].data != "Subject: cur\n\n" {
		t.Fatalf("%+v", got)
	}
	plain := t.TempDir()
	if got := readAll(t, plain, ""); len(got) != 1 || got[0].err == nil {
		t.Fatalf("a plain directory: %+v", got)
	}
	if got := readAll(t, filepath.Join(plain, "missing.eml"), ""); len(got) != 1 || !errors.Is(got[0].err, os.ErrNotExist) {
		t.Fatalf("a missing file: %+v", got)
	}
}
