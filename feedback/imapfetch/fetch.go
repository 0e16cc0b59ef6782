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

// Limits of one pass. A message above MaxMessage is not downloaded (no
// report is that big), and no more than MaxMessage of any message is kept,
// whatever size the server announced: messages are handled as they
// stream in, one in memory at a time. A batch is at most batchCount
// messages: what one MOVE and one save of the mark cover.
const (
	MaxMessage = 32 << 20
	batchCount = 100
)

// Message is one message of the mailbox, as the Handler sees it.
type Message struct {
	UID  uint32
	Size int64
	Raw  []byte // nil when the message is larger than MaxMessage
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
	res, err := s.run(ctx, st, rescan, h)
	return res, s.b.explain(s.cfg.addr(), err)
}

func (s *Session) run(ctx context.Context, st *StateFile, rescan bool, h Handler) (Result, error) {
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
	todo, err := s.newMessages(mark.LastUID, sel.NumMessages)
	if err != nil {
		return res, err
	}
	for len(todo) > 0 {
		n := min(len(todo), batchCount)
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
// last+1 (RFC 9051 6.4.8): filtered out here. The mailbox holds exists
// messages: more responses than that (and a margin) end the pass.
func (s *Session) newMessages(last, exists uint32) ([]Message, error) {
	const what = "UID FETCH (RFC822.SIZE)"
	set := imap.UIDSet{imap.UIDRange{Start: imap.UID(last + 1), Stop: 0}}
	s.b.expect(what, int(exists))
	cmd := s.c.Fetch(set, &imap.FetchOptions{UID: true, RFC822Size: true})
	defer func() { _ = cmd.Close() }()
	var out []Message
	for n, data := 1, cmd.Next(); data != nil; n, data = n+1, cmd.Next() {
		if err := s.tooMany(what, n, int(max(exists, s.c.Mailbox().NumMessages))); err != nil {
			return nil, err
		}
		m, err := data.Collect()
		if err != nil {
			return nil, s.commandError(what, err)
		}
		if uint32(m.UID) > last {
			out = append(out, Message{UID: uint32(m.UID), Size: m.RFC822Size})
		}
	}
	if err := cmd.Close(); err != nil {
		return nil, s.commandError(what, err)
	}
	slices.SortFunc(out, func(a, b Message) int { return int(int64(a.UID) - int64(b.UID)) })
	return out, nil
}

// batch hands each message of msgs to h as its body arrives, then moves
// those h acted on.
func (s *Session) batch(ctx context.Context, msgs []Message, h Handler, res *Result) error {
	var acted []uint32
	handle := func(m Message) error {
		ok, err := h(ctx, m)
		if err != nil {
			return err
		}
		res.Examined++
		if ok {
			acted = append(acted, m.UID)
		}
		return nil
	}
	var set imap.UIDSet
	for _, m := range msgs {
		if m.Size <= MaxMessage {
			set.AddNum(imap.UID(m.UID))
		} else if err := handle(m); err != nil { // too big to be a report: Raw nil
			return err
		}
	}
	if err := s.stream(set, msgs, handle); err != nil {
		return err
	}
	moved, err := s.move(acted)
	res.Moved += moved
	res.Kept += len(acted) - moved
	return err
}

// stream fetches the messages of set with BODY.PEEK[] (unlike BODY[], it
// leaves \Seen alone) and hands each to handle as it arrives. A message
// the server no longer has is not handed on: it was expunged meanwhile.
func (s *Session) stream(set imap.UIDSet, msgs []Message, handle func(Message) error) error {
	if len(set) == 0 {
		return nil
	}
	size := map[uint32]int64{}
	for _, m := range msgs {
		size[m.UID] = m.Size
	}
	section := &imap.FetchItemBodySection{Peek: true}
	s.b.expect("UID FETCH (BODY.PEEK[])", len(size))
	cmd := s.c.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}})
	defer func() { _ = cmd.Close() }() // drains what was not read; the error is Close's below
	for n, data := 1, cmd.Next(); data != nil; n, data = n+1, cmd.Next() {
		if err := s.tooMany("UID FETCH (BODY.PEEK[])", n, len(size)); err != nil {
			return err
		}
		m, ok, err := readBody(data)
		if err != nil {
			return s.commandError("UID FETCH (BODY.PEEK[])", err)
		}
		if _, asked := size[m.UID]; !ok || !asked {
			continue
		}
		m.Size = size[m.UID]
		if err := handle(m); err != nil {
			return err
		}
	}
	if err := cmd.Close(); err != nil {
		return s.commandError("UID FETCH (BODY.PEEK[])", err)
	}
	return nil
}

// readBody reads one FETCH response: its UID and at most MaxMessage bytes
// of its body (Raw stays nil for a longer one). ok is false without both.
func readBody(data *imapclient.FetchMessageData) (m Message, ok bool, err error) {
	var gotUID, gotBody bool
	for item := data.Next(); item != nil; item = data.Next() {
		switch it := item.(type) {
		case imapclient.FetchItemDataUID:
			m.UID, gotUID = uint32(it.UID), true
		case imapclient.FetchItemDataBodySection:
			if it.Literal == nil {
				continue
			}
			raw, err := io.ReadAll(io.LimitReader(it.Literal, MaxMessage+1))
			if err != nil {
				return m, false, err
			}
			if len(raw) <= MaxMessage {
				m.Raw = raw
			}
			gotBody = true
		}
	}
	return m, gotUID && gotBody, nil
}

// tooMany ends the pass when the nth response to a FETCH of asked messages
// is more than a server could mean: an endless stream would otherwise
// hold the pass for ever. Closing the connection lets the command's Close
// return.
func (s *Session) tooMany(what string, n, asked int) error {
	if n <= asked+fetchMargin {
		return nil
	}
	s.b.trip(fmt.Sprintf("the server sent more than %d FETCH responses during a %s of %d messages", asked+fetchMargin, what, asked))
	return errors.New(s.b.reason())
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
