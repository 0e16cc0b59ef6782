package templates

import (
	"errors"
	"fmt"
)

var (
	// ErrLineBreak is returned when a rendered header value contains CR,
	// LF or NUL.
	ErrLineBreak = errors.New("value contains a line break")
	// ErrBadAddress is returned when an address header does not hold
	// valid addresses.
	ErrBadAddress = errors.New("bad address")
	// ErrLineTooLong is returned when a value has a word too long for a
	// 998-character line.
	ErrLineTooLong = errors.New("value has a word too long for a 998-character line")
	// ErrBadMessageID is returned when Envelope.MessageID is not of the
	// form left@right.
	ErrBadMessageID = errors.New("bad message ID")
	// ErrBadUnsubscribe is returned when a List-Unsubscribe URL or mailto
	// address rendered to something unusable (not https://, not an
	// address, a character that must be percent-encoded).
	ErrBadUnsubscribe = errors.New("bad unsubscribe link")
	// ErrAttachment is returned when a row's attachment file cannot be
	// attached (missing, unreadable, outside the attachment directory, not
	// a regular file or too large). The underlying error is wrapped too:
	// errors.Is(err, fs.ErrNotExist) holds for a missing file.
	ErrAttachment = errors.New("cannot attach file")
	// ErrDKIMAlignment is returned when the From domain and the DKIM
	// signing domain have different organizational domains, so DMARC
	// would not count the signature.
	ErrDKIMAlignment = errors.New("the From domain does not align with the DKIM domain")
)

// errNUL is reported for a NUL byte; it matches ErrLineBreak.
var errNUL = nulError{}

type nulError struct{}

func (nulError) Error() string        { return "value contains a NUL byte" }
func (nulError) Is(target error) bool { return target == ErrLineBreak }

// FieldError reports a value that is unusable for one recipient: a header
// value, or the file named in the attachment column.
type FieldError struct {
	Header string // field name, e.g. "Subject"; empty when Column is set
	Column string // the attachment column, for an attachment that cannot be read
	Err    error  // ErrLineBreak, ErrBadAddress, ErrLineTooLong, ErrAttachment, ...
}

func (e *FieldError) Error() string {
	if e.Header == "" && e.Column != "" {
		return fmt.Sprintf("column %q: %v", e.Column, e.Err)
	}
	return fmt.Sprintf("header %q: %v", e.Header, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }
