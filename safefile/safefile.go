// Package safefile opens the files a user names (the list, the template,
// attachments, password and key files) without the ways a named file can
// hang a run: a FIFO blocks open(2) until a writer comes, which may be
// never, and a device may never end.
package safefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// ErrNotRegular is a named file that is a FIFO, device, socket or
// directory.
var ErrNotRegular = errors.New("not a regular file")

// FS is where a file is opened: the system (OS) or an *os.Root, which
// keeps paths inside its directory.
type FS interface {
	Stat(name string) (fs.FileInfo, error)
	OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error)
}

// OS is FS on the system's paths.
type OS struct{}

// Stat is os.Stat.
func (OS) Stat(name string) (fs.FileInfo, error) { return os.Stat(name) }

// OpenFile is os.OpenFile.
func (OS) OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	return os.OpenFile(name, flag, perm)
}

// Open opens path for reading if it is a regular file.
func Open(path string) (*os.File, error) {
	f, _, err := OpenIn(OS{}, path)
	return f, err
}

// OpenIn opens path in fsys for reading if it is a regular file, and
// returns what fstat says of the file opened. It looks before it opens,
// and opens non-blocking, so a FIFO swapped in between returns at once and
// its fstat refuses it.
func OpenIn(fsys FS, path string) (*os.File, fs.FileInfo, error) {
	fi, err := fsys.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if err := check(path, fi); err != nil {
		return nil, nil, err
	}
	f, err := fsys.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	if fi, err = f.Stat(); err == nil {
		err = check(path, fi)
	}
	if err != nil {
		_ = f.Close() // refused: nothing was read
		return nil, nil, err
	}
	return f, fi, nil
}

// ReadFile is os.ReadFile through Open.
func ReadFile(path string) ([]byte, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }() // read-only
	return io.ReadAll(f)
}

func check(path string, fi fs.FileInfo) error {
	if fi.Mode().IsRegular() {
		return nil
	}
	return &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w (%s)", ErrNotRegular, kind(fi.Mode()))}
}

func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a directory"
	}
	return m.Type().String()
}
