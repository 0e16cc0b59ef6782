//go:build unix

package templates

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFIFORefusedWithoutBlocking: a FIFO nobody writes to is refused at
// once, by path and inside the attachment column's root; open() on it
// would block for ever.
func TestFIFORefusedWithoutBlocking(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o644); err != nil {
		t.Skip(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for name, fsys := range map[string]opener{"os": osFiles{}, "root": root} {
		path := "pipe"
		if name == "os" {
			path = filepath.Join(dir, "pipe")
		}
		done := make(chan error, 1)
		go func() { _, err := readFile(fsys, path); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "not a regular file (a FIFO)") {
				t.Errorf("%s: err %v, want not a regular file", name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: still blocked after 10 s", name)
		}
	}
}

// swapped says a FIFO is the regular file it was a moment ago: the race
// between looking at a path and opening it.
type swapped struct {
	osFiles
	was os.FileInfo
}

func (s swapped) Stat(string) (os.FileInfo, error) { return s.was, nil }

func TestFIFOSwappedInAfterStat(t *testing.T) {
	dir := t.TempDir()
	pipe := filepath.Join(dir, "pipe")
	if err := syscall.Mkfifo(pipe, 0o644); err != nil {
		t.Skip(err)
	}
	os.WriteFile(filepath.Join(dir, "file"), []byte("x"), 0o644)
	was, _ := os.Stat(filepath.Join(dir, "file"))
	done := make(chan error, 1)
	go func() { _, err := readFile(swapped{was: was}, pipe); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("err %v, want not a regular file", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("open() blocked on the FIFO")
	}
}
