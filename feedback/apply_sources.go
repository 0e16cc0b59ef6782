package feedback

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/mailblast/mailblast/safefile"
)

// MaxMessage is how much of one message a mailbox reader hands over: the
// rest of a larger one is read past and dropped. A report is at its
// start (Parse reads the first MaxMessageSize), so a bounce that returns
// a big original whole is still read.
const MaxMessage = 32 << 20

// Message is one message of a mailbox, and where it came from.
type Message struct {
	Path   string // the file
	Number int    // its place in an mbox (1 for the first), 0 for a file of its own
	Data   []byte
}

// Where names the message for the user: the file, and in an mbox its
// number.
func (m Message) Where() string {
	if m.Number > 0 {
		return fmt.Sprintf("%s: message %d", m.Path, m.Number)
	}
	return m.Path
}

// ReadMailbox calls fn with each message at path: one .eml file, an mbox
// file (it starts "From "), or a Maildir (a directory with cur/ or new/);
// path "-" reads stdin (a message or an mbox). What cannot be read is
// handed to fn with its error, and reading goes on with the next message
// or file; only an error fn returns stops it.
func ReadMailbox(path string, stdin io.Reader, fn func(Message, error) error) error {
	if path == "-" {
		return readStream(path, stdin, fn)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fn(Message{Path: path}, err)
	}
	if fi.IsDir() {
		return readMaildir(path, fn)
	}
	return readFile(path, fn)
}

func readFile(path string, fn func(Message, error) error) error {
	f, err := safefile.Open(path) // a FIFO is refused, not waited on
	if err != nil {
		return fn(Message{Path: path}, err)
	}
	defer f.Close()
	return readStream(path, f, fn)
}

// ErrNotMaildir is a directory given as a mailbox without new/ or cur/.
var ErrNotMaildir = errors.New("a directory without new/ or cur/ is no Maildir")

// CheckMailbox says whether ReadMailbox can read path at all: it exists,
// and is a regular file, "-", or a Maildir. A caller checks every path
// with it before reading any, so a typo stops an import before anything
// is applied.
func CheckMailbox(path string) error {
	if path == "-" {
		return nil
	}
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return err
	case fi.IsDir():
		for _, sub := range []string{"new", "cur"} {
			if fi, err := os.Stat(filepath.Join(path, sub)); err == nil && fi.IsDir() {
				return nil
			}
		}
		return fmt.Errorf("%s: %w", path, ErrNotMaildir)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s: %w", path, safefile.ErrNotRegular)
	}
	return nil
}

// readStream reads one message, or an mbox when it starts "From ".
func readStream(path string, r io.Reader, fn func(Message, error) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(5)
	if string(head) == "From " {
		return readMbox(path, br, fn)
	}
	data, err := io.ReadAll(io.LimitReader(br, MaxMessage))
	if err == nil {
		_, err = io.Copy(io.Discard, br) // the rest: no report is there
	}
	if err != nil {
		return fn(Message{Path: path}, err)
	}
	return fn(Message{Path: path, Data: data}, nil)
}

// readMbox splits an mbox at its "From " lines (mboxrd: a ">From " line
// in a message loses one '>').
func readMbox(path string, br *bufio.Reader, fn func(Message, error) error) error {
	var msg bytes.Buffer
	n := 0
	blank := false // the line before was empty: a "From " line may start the next message
	flush := func() error {
		if n == 0 {
			return nil
		}
		m := Message{Path: path, Number: n, Data: bytes.Clone(msg.Bytes())}
		msg.Reset()
		return fn(m, nil)
	}
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			err = nil // a long line: its pieces come one after another
		}
		wasBlank := blank
		blank = string(line) == "\n" || string(line) == "\r\n"
		if bytes.HasPrefix(line, []byte("From ")) && (msg.Len() == 0 || wasBlank) {
			if ferr := flush(); ferr != nil {
				return ferr
			}
			n++
		} else if n > 0 && msg.Len() < MaxMessage {
			if unquoted, ok := bytes.CutPrefix(line, []byte(">")); ok && bytes.HasPrefix(bytes.TrimLeft(unquoted, ">"), []byte("From ")) {
				line = unquoted
			}
			msg.Write(line[:min(len(line), MaxMessage-msg.Len())]) // past MaxMessage: dropped
		}
		if err == io.EOF {
			return flush()
		}
		if err != nil {
			if ferr := flush(); ferr != nil {
				return ferr
			}
			return fn(Message{Path: path, Number: n + 1}, err)
		}
	}
}

// readMaildir reads new/ and cur/, each in name order (a Maildir's names
// begin with their delivery time).
func readMaildir(dir string, fn func(Message, error) error) error {
	found := false
	for _, sub := range []string{"new", "cur"} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			if ferr := fn(Message{Path: filepath.Join(dir, sub)}, err); ferr != nil {
				return ferr
			}
			continue
		}
		found = true
		sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
		for _, e := range entries {
			if e.IsDir() || e.Name()[0] == '.' {
				continue
			}
			if err := readFile(filepath.Join(dir, sub, e.Name()), fn); err != nil {
				return err
			}
		}
	}
	if !found {
		return fn(Message{Path: dir}, ErrNotMaildir)
	}
	return nil
}
