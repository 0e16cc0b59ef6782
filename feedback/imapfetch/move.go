package imapfetch

import (
	"errors"
	"fmt"

	"github.com/emersion/go-imap/v2"
)

// ErrCannotMove means the server offers neither MOVE nor UIDPLUS, so no message
// can leave the mailbox without risking others (a plain EXPUNGE removes
// every \Deleted message, not only ours).
var ErrCannotMove = errors.New("the server offers neither MOVE (RFC 6851) nor UIDPLUS (RFC 4315); messages acted on stay in the mailbox")

// move moves exactly uids to the processed mailbox, creating it when the
// server says it is missing. It returns how many it moved.
func (s *Session) move(uids []uint32) (int, error) {
	if len(uids) == 0 {
		return 0, nil
	}
	set := imap.UIDSetNum(toUIDs(uids)...)
	err := s.moveOnce(set)
	if tryCreate(err) {
		if err := s.create(); err != nil {
			return 0, err
		}
		err = s.moveOnce(set)
	}
	if err != nil {
		if errors.Is(err, ErrCannotMove) {
			return 0, nil // said once by Kept in the result, not an error
		}
		return 0, s.mailboxError(s.cfg.Processed, "feedback.imap.processed_mailbox", err)
	}
	return len(uids), nil
}

// moveOnce is UID MOVE, or where the server lacks it and has UIDPLUS, UID
// COPY, UID STORE +FLAGS.SILENT (\Deleted) and UID EXPUNGE of the same
// UIDs. imapclient's own Move falls back to a plain EXPUNGE without
// UIDPLUS, which would remove messages that are not ours: not used then.
func (s *Session) moveOnce(set imap.UIDSet) error {
	caps := s.c.Caps()
	if caps.Has(imap.CapMove) {
		_, err := s.c.Move(set, s.cfg.Processed).Wait()
		return err
	}
	if !caps.Has(imap.CapUIDPlus) {
		return ErrCannotMove
	}
	if _, err := s.c.Copy(set, s.cfg.Processed).Wait(); err != nil {
		return err
	}
	flags := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}
	if err := s.c.Store(set, flags, nil).Close(); err != nil {
		return err
	}
	return s.c.UIDExpunge(set).Close()
}

func tryCreate(err error) bool {
	var ie *imap.Error
	return errors.As(err, &ie) && ie.Code == imap.ResponseCodeTryCreate
}

// create makes the processed mailbox; one made meanwhile by someone else
// is as good.
func (s *Session) create() error {
	err := s.c.Create(s.cfg.Processed, nil).Wait()
	var ie *imap.Error
	if err == nil || errors.As(err, &ie) && ie.Code == imap.ResponseCodeAlreadyExists {
		return nil
	}
	return s.mailboxError(s.cfg.Processed, "feedback.imap.processed_mailbox", fmt.Errorf("CREATE: %w", err))
}

func toUIDs(uids []uint32) []imap.UID {
	out := make([]imap.UID, len(uids))
	for i, u := range uids {
		out[i] = imap.UID(u)
	}
	return out
}
