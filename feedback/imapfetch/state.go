package imapfetch

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/gofrs/flock"
)

// StateFile remembers, per mailbox, how far past passes have read. It is a
// small JSON file beside the ledger, 0600, replaced whole on each save so
// that a crash leaves the old or the new one, never half of each.
type StateFile struct {
	path      string
	Mailboxes []MailboxState `json:"mailboxes"`
}

// MailboxState is one mailbox's mark: every UID up to LastUID under
// UIDValidity was examined.
type MailboxState struct {
	Host        string `json:"host"`
	Username    string `json:"username"`
	Mailbox     string `json:"mailbox"`
	UIDValidity uint32 `json:"uidvalidity"`
	LastUID     uint32 `json:"last_uid"`
}

// LoadState reads path; a missing file is an empty state. A file that
// does not parse is reported: deleting it is safe (the next pass examines
// every message again, and what was applied before counts as duplicate).
func LoadState(path string) (*StateFile, error) {
	s := &StateFile{path: path}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("IMAP state %s: %w", path, err)
	}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("IMAP state %s is damaged (%w); delete it to examine the mailbox from the start", path, err)
	}
	return s, nil
}

func (s *StateFile) find(host, user, mailbox string) int {
	return slices.IndexFunc(s.Mailboxes, func(m MailboxState) bool {
		return m.Host == host && m.Username == user && m.Mailbox == mailbox
	})
}

// Get is the mark of one mailbox; zero when it was never read.
func (s *StateFile) Get(host, user, mailbox string) MailboxState {
	if i := s.find(host, user, mailbox); i >= 0 {
		return s.Mailboxes[i]
	}
	return MailboxState{Host: host, Username: user, Mailbox: mailbox}
}

// Put sets one mailbox's mark and saves the file.
func (s *StateFile) Put(m MailboxState) error {
	if i := s.find(m.Host, m.Username, m.Mailbox); i >= 0 {
		s.Mailboxes[i] = m
	} else {
		s.Mailboxes = append(s.Mailboxes, m)
	}
	return s.save()
}

// save writes a temporary file in the same directory, syncs it, and
// renames it over the old one.
func (s *StateFile) save() error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(s.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("IMAP state: %w", err)
	}
	f, err := os.CreateTemp(dir, ".feedback-fetch-*.json")
	if err != nil {
		return fmt.Errorf("IMAP state: %w", err)
	}
	defer func() { _ = os.Remove(f.Name()) }() // gone after the rename
	if _, err = f.Write(append(b, '\n')); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), s.path)
	}
	if err != nil {
		return fmt.Errorf("IMAP state %s: %w", s.path, err)
	}
	syncDir(dir)
	return nil
}

// syncDir makes the rename durable; a failure only risks the old mark,
// which is safe.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// ErrBusy means another pass holds the state file's lock. Two passes at once
// would read the same messages twice; cron starting one while the last
// still runs is the usual cause, and the next start will do the work.
var ErrBusy = errors.New("another feedback fetch is running")

// Lock takes the lock beside the state file without waiting. The kernel
// drops an flock when its process dies, so a crash leaves no stale lock.
func (s *StateFile) Lock() (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return nil, fmt.Errorf("IMAP state: %w", err)
	}
	path := s.path + ".lock"
	fl := flock.New(path, flock.SetPermissions(0o600))
	ok, err := fl.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w (lock file %s)", ErrBusy, path)
	}
	return func() { _ = fl.Unlock() }, nil
}
