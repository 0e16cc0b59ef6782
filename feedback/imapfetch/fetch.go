package imapfetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Limits of one pass. A message above MaxMessage is not fetched at all (no
// report is that big); a batch holds at most batchCount messages and about
// batchBytes, so memory stays bounded whatever the mailbox holds.
const (
	MaxMessage = 32 << 20
	batchCount = 100
	batchBytes = 64 << 20
)

// Message is one message of the mailbox, as the Handler sees it.
type Message struct {
	UID  uint32
	Size int64
	Raw  []byte // nil when Size is above MaxMessage
}

// Handler examines one message; acted means the ledger knows it (applied,
// recorded, or applied before), so it may leave the mailbox. An error ends
// the pass before the message's batch is moved or marked.
type Handler func(ctx context.Context, m Message) (acted bool, err error)

// Result is what a pass did in the mailbox.
type Result struct {
	Examined int  // messages handed to the Handler
	Moved    int  // moved to the processed mailbox
	Kept     int  // acted on, but left: the server can move nothing safely
	Reset    bool // UIDVALIDITY changed: examined from the start
}

// Run reads the messages that arrived since the pass st remembers, hands
// each to h, and moves those h acted on. With rescan, it starts at UID 1.
func (s *Session) Run(ctx context.Context, st *StateFile, rescan bool, h Handler) (Result, error) {
	var res Result
	sel, err := s.c.Select(s.cfg.Mailbox, nil).Wait()
	if err != nil {
		return res, s.mailboxError(s.cfg.Mailbox, "feedback.imap.mailbox", err)
	}
	mark := st.Get(s.cfg.Host, s.cfg.Username, s.cfg.Mailbox)
	if mark.UIDValidity != sel.UIDValidity || rescan {
		res.Reset = mark.UIDValidity != 0 && mark.UIDValidity != sel.UIDValidity
		mark.UIDValidity, mark.LastUID = sel.UIDValidity, 0
	}
	if sel.NumMessages == 0 || sel.UIDNext != 0 && uint32(sel.UIDNext) <= mark.LastUID+1 {
		return res, s.putIfChanged(st, mark)
	}
	todo, err := s.newMessages(mark.LastUID)
	if err != nil {
		return res, err
	}
	for len(todo) > 0 {
		n := batchLen(todo)
		if err := s.batch(ctx, todo[:n], h, &res); err != nil {
			return res, err
		}
		mark.LastUID = todo[n-1].UID
		if err := st.Put(mark); err != nil {
			return res, err
		}
		todo = todo[n:]
	}
	return res, s.putIfChanged(st, mark)
}

func (s *Session) putIfChanged(st *StateFile, mark MailboxState) error {
	if st.Get(mark.Host, mark.Username, mark.Mailbox) == mark {
		return nil
	}
	return st.Put(mark)
}

// newMessages lists UID and size of every message above last, in UID
// order. "last+1:*" also names the highest message when its UID is below
// last+1 (RFC 9051 6.4.8): filtered out here.
func (s *Session) newMessages(last uint32) ([]Message, error) {
	set := imap.UIDSet{imap.UIDRange{Start: imap.UID(last + 1), Stop: 0}}
	msgs, err := s.c.Fetch(set, &imap.FetchOptions{UID: true, RFC822Size: true}).Collect()
	if err != nil {
		return nil, s.commandError("UID FETCH (RFC822.SIZE)", err)
	}
	var out []Message
	for _, m := range msgs {
		if uint32(m.UID) > last {
			out = append(out, Message{UID: uint32(m.UID), Size: m.RFC822Size})
		}
	}
	slices.SortFunc(out, func(a, b Message) int { return int(int64(a.UID) - int64(b.UID)) })
	return out, nil
}

// batchLen is how many of todo the next batch takes.
func batchLen(todo []Message) int {
	var bytes int64
	for i, m := range todo {
		if i == batchCount || i > 0 && bytes+min(m.Size, MaxMessage) > batchBytes {
			return i
		}
		bytes += min(m.Size, MaxMessage)
	}
	return len(todo)
}

// batch fetches the bodies of msgs, hands each to h, and moves those it
// acted on.
func (s *Session) batch(ctx context.Context, msgs []Message, h Handler, res *Result) error {
	if err := s.fetchBodies(msgs); err != nil {
		return err
	}
	var acted []uint32
	for i := range msgs {
		ok, err := h(ctx, msgs[i])
		msgs[i].Raw = nil // done with it: the batch's memory goes as it is used
		if err != nil {
			return err
		}
		res.Examined++
		if ok {
			acted = append(acted, msgs[i].UID)
		}
	}
	moved, err := s.move(acted)
	res.Moved += moved
	res.Kept += len(acted) - moved
	return err
}

// fetchBodies fills Raw of every message not above MaxMessage, with
// BODY.PEEK[]: unlike BODY[], it leaves \Seen alone.
func (s *Session) fetchBodies(msgs []Message) error {
	var set imap.UIDSet
	byUID := map[uint32]*Message{}
	for i := range msgs {
		if msgs[i].Size <= MaxMessage {
			set.AddNum(imap.UID(msgs[i].UID))
			byUID[msgs[i].UID] = &msgs[i]
		}
	}
	if len(set) == 0 {
		return nil
	}
	section := &imap.FetchItemBodySection{Peek: true}
	cmd := s.c.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}})
	defer func() { _ = cmd.Close() }() // drains what was not read; the error is Close's below
	for m := cmd.Next(); m != nil; m = cmd.Next() {
		if err := readBody(m, byUID); err != nil {
			return s.commandError("UID FETCH (BODY.PEEK[])", err)
		}
	}
	if err := cmd.Close(); err != nil {
		return s.commandError("UID FETCH (BODY.PEEK[])", err)
	}
	return nil
}

// readBody reads one FETCH response's literal into its message, at most
// MaxMessage bytes whatever size the server announces.
func readBody(m *imapclient.FetchMessageData, byUID map[uint32]*Message) error {
	var uid uint32
	for item := m.Next(); item != nil; item = m.Next() {
		switch it := item.(type) {
		case imapclient.FetchItemDataUID:
			uid = uint32(it.UID)
		case imapclient.FetchItemDataBodySection:
			msg := byUID[uid]
			if msg == nil || it.Literal == nil {
				continue // not asked for (UID comes first in UID FETCH)
			}
			raw, err := io.ReadAll(io.LimitReader(it.Literal, MaxMessage+1))
			if err != nil {
				return err
			}
			if len(raw) <= MaxMessage {
				msg.Raw = raw
			}
		}
	}
	return nil
}

func (s *Session) commandError(what string, err error) error {
	var ie *imap.Error
	if errors.As(err, &ie) {
		return fmt.Errorf("%s: %s %s: %w", s.cfg.addr(), what, s.cfg.Mailbox, err)
	}
	return fmt.Errorf("%w: %s: %s: %w", ErrUnreachable, s.cfg.addr(), what, err)
}

// mailboxError names the setting when the server says the mailbox is
// not there.
func (s *Session) mailboxError(name, key string, err error) error {
	var ie *imap.Error
	if errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeNo {
		return &SettingError{key, fmt.Errorf("%s cannot be opened on %s: %s", name, s.cfg.addr(), ie.Text)}
	}
	return s.commandError("SELECT", err)
}
