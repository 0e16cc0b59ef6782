package campaign

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/mailblast/mailblast/ledger"
)

// The wire journal is how "in flight" comes to mean "on the wire". Claims
// are committed a chunk ahead of the sending, so after a crash most
// claimed rows were never handed to a connection. Before a message's first
// byte goes out, its row is appended to this file with one write(2), not
// synced: the page cache keeps it across a kill -9 of the process, at a
// cost of a couple of microseconds and no fsync on the send path. After a
// process crash the next run treats as in flight only the claimed rows the
// journal names; the others are simply waiting. After a machine crash the
// page cache is gone, which the boot ID in the header reveals: then, or
// with the journal missing or unreadable, every claimed row counts, as
// before.

// wireJournal appends rows handed to a connection. Safe for concurrent use.
type wireJournal struct {
	mu     sync.Mutex
	path   string
	f      *os.File
	broken bool
}

func journalPath(stateDir, name string) string {
	return filepath.Join(stateDir, "campaign-"+FileName(name)+".wire")
}

// bootID names this boot of the machine; "" where the kernel does not say.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// readJournal returns the rows a crashed run handed to connections, and
// whether the journal can be trusted for that.
func readJournal(path string) (map[int]bool, bool) {
	b, err := os.ReadFile(path)
	boot := bootID()
	if err != nil || boot == "" {
		return nil, false
	}
	head, body, ok := bytes.Cut(b, []byte("\n"))
	if !ok || string(head) != "mailblast-wire 1 "+boot {
		return nil, false
	}
	rows := map[int]bool{}
	// A last line cut short was being written when the process died: its
	// message had not started, so it is not on the wire.
	if i := bytes.LastIndexByte(body, '\n'); i+1 < len(body) {
		body = body[:i+1]
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		if n, err := strconv.Atoi(sc.Text()); err == nil {
			rows[n] = true
		}
	}
	return rows, true
}

// openJournal starts this run's journal, replacing the last run's, which
// recovery has read.
func openJournal(path string) (*wireJournal, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("wire journal: %w", err)
	}
	if _, err := fmt.Fprintf(f, "mailblast-wire 1 %s\n", bootID()); err != nil {
		_ = f.Close()
		_ = os.Remove(path) // a headless journal would only be distrusted
		return nil, fmt.Errorf("wire journal: %w", err)
	}
	return &wireJournal{path: path, f: f}, nil
}

// record notes row before its message's first byte. A journal that cannot
// be written is removed, so that recovery falls back to the claims rather
// than trust a journal with rows missing.
func (j *wireJournal) record(row int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.broken {
		return
	}
	line := append(strconv.AppendInt(make([]byte, 0, 12), int64(row), 10), '\n')
	if _, err := j.f.Write(line); err != nil { // one write: a line is whole or cut short
		j.breakJournal()
	}
}

func (j *wireJournal) breakJournal() {
	j.broken = true
	_ = os.Remove(j.path) // the claims are the conservative fallback
}

// close ends the run's journal. The file stays: the next run reads it for
// whatever claims this one left, then starts its own.
func (j *wireJournal) close() {
	j.mu.Lock()
	defer j.mu.Unlock()
	_ = j.f.Close() // unsynced by design: close reports nothing recovery needs
}

// Running reports whether a run holds the campaign's lock now. It creates
// nothing: without a lock file no run has ever held it.
func Running(stateDir, name string) bool {
	if _, err := os.Stat(lockPath(stateDir, name)); err != nil {
		return false
	}
	unlock, err := Lock(stateDir, name)
	if err != nil {
		return true
	}
	unlock()
	return false
}

// SettleView is what a crashed run's claims mean, seen before the next run
// settles them: of the rows the ledger counts in flight, those the wire
// journal shows handed to a connection. ok is false when the journal cannot
// be trusted (missing, or from another boot): then all of them may be.
func SettleView(ctx context.Context, store ledger.Store, stateDir string, c ledger.Campaign) (onWire int, ok bool, err error) {
	wire, ok := readJournal(journalPath(stateDir, c.Name))
	if !ok {
		return 0, false, nil
	}
	err = store.Recipients(ctx, c.ID, ledger.InFlight, func(r ledger.Recipient) error {
		if wire[r.Row] {
			onWire++
		}
		return nil
	})
	return onWire, true, err
}
