package sendertest

import (
	"bytes"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// maxPendingLine bounds the bytes kept while waiting for the end of a command
// line; go-smtp itself refuses lines over 2000 bytes.
const maxPendingLine = 64 << 10

type tapMode int

const (
	modeCmd  tapMode = iota // client bytes are command lines
	modeWait                // after DATA, AUTH or STARTTLS: what follows depends on the reply
	modeBody                // DATA accepted: message body up to ".\r\n"
	modeSASL                // AUTH continued (334): one SASL response line
	modeBDAT                // skipping a BDAT chunk
)

// tap is the go-smtp Debug writer of one connection. go-smtp writes to it
// every byte it reads from the client (after TLS) and every reply line it
// sends, interleaved in the order they happen. A write is a reply when the
// server wrote to the connection since the last read (tapConn sets wrote)
// and it has the shape of a reply line; go-smtp writes each reply line with
// one Write. The client bytes are cut into command lines, skipping message
// bodies, BDAT chunks and SASL responses; replies tell which of those follow.
type tap struct {
	srv   *Server
	conn  int
	wrote atomic.Bool

	mu      sync.Mutex
	in      []byte // client bytes not yet parsed
	mode    tapMode
	skip    int64    // BDAT bytes left to skip
	midLine bool     // in a body line already too long to be "."
	waiting []string // commands awaiting their final reply, oldest first
}

func (t *tap) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.wrote.Swap(false) && isReplyLine(p) {
		t.reply(p)
	} else {
		t.in = append(t.in, p...)
	}
	t.parse()
	return len(p), nil
}

// isReplyLine reports whether p is exactly one "NNN text\r\n" or
// "NNN-text\r\n" line.
func isReplyLine(p []byte) bool {
	if len(p) < 6 || !bytes.HasSuffix(p, []byte("\r\n")) || bytes.IndexByte(p, '\n') != len(p)-1 {
		return false
	}
	for _, c := range p[:3] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return p[3] == ' ' || p[3] == '-'
}

func (t *tap) reply(line []byte) {
	if line[3] == '-' || len(t.waiting) == 0 {
		return // not the last line of a reply, or unsolicited (greeting)
	}
	code, _ := strconv.Atoi(string(line[:3]))
	switch head := t.waiting[0]; {
	case head == "DATA" && code == 354:
		t.waiting[0] = "DATA." // the final reply comes after the body
		t.mode = modeBody
		return
	case head == "AUTH" && code == 334:
		t.mode = modeSASL
		return
	case head == "STARTTLS" && code == 220:
		t.in = t.in[:0] // bytes sent before the handshake are lost, as in go-smtp
	}
	t.waiting = t.waiting[1:]
	if t.mode == modeWait && len(t.waiting) == 0 {
		t.mode = modeCmd
	}
}

func (t *tap) parse() {
	for {
		switch t.mode {
		case modeWait:
			return
		case modeBDAT:
			n := min(int64(len(t.in)), t.skip)
			t.in = t.in[n:]
			t.skip -= n
			if t.skip > 0 {
				return
			}
			t.mode = modeCmd
		case modeBody:
			i := bytes.IndexByte(t.in, '\n')
			if i < 0 {
				if len(t.in) > len(".\r") {
					t.midLine = true
					t.in = t.in[:0]
				}
				return
			}
			end := !t.midLine && string(t.in[:i]) == ".\r"
			t.in = t.in[i+1:]
			t.midLine = false
			if end {
				t.mode = modeCmd
			}
		case modeSASL, modeCmd:
			i := bytes.IndexByte(t.in, '\n')
			if i < 0 {
				if len(t.in) > maxPendingLine {
					t.in = t.in[:0]
				}
				return
			}
			line := strings.TrimRight(string(t.in[:i]), "\r")
			t.in = t.in[i+1:]
			if t.mode == modeSASL {
				t.mode = modeWait // for the next reply to AUTH
			} else {
				t.command(line)
			}
		}
	}
}

func (t *tap) command(line string) {
	verb, arg := parseVerb(line)
	t.waiting = append(t.waiting, verb) // every line gets one reply, even a bad one
	if verb == "" {
		return
	}
	t.srv.recordCommand(t.conn, verb)
	switch verb {
	case "DATA", "AUTH", "STARTTLS":
		t.mode = modeWait
	case "BDAT":
		if n, ok := bdatSize(arg); ok {
			t.skip = n
			t.mode = modeBDAT
		}
	}
}

// parseVerb mirrors go-smtp's parseCmd: "" for a line go-smtp refuses.
func parseVerb(line string) (verb, arg string) {
	switch {
	case strings.HasPrefix(strings.ToUpper(line), "STARTTLS"):
		return "STARTTLS", ""
	case len(line) == 4:
		return strings.ToUpper(line), ""
	case len(line) > 5 && line[4] == ' ':
		return strings.ToUpper(line[:4]), strings.TrimSpace(line[5:])
	}
	return "", ""
}

// bdatSize returns the chunk size of a BDAT command go-smtp reads a chunk for.
func bdatSize(arg string) (int64, bool) {
	f := strings.Fields(arg)
	if len(f) == 0 || len(f) > 2 || (len(f) == 2 && !strings.EqualFold(f[1], "LAST")) {
		return 0, false
	}
	n, err := strconv.ParseUint(f[0], 10, 32)
	return int64(n), err == nil
}
