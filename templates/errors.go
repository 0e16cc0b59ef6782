package templates

import (
	"errors"
	"fmt"
)

var (
	// ErrLineBreak: a rendered header value contains CR, LF or NUL.
	ErrLineBreak = errors.New("value contains a line break")
	// ErrBadAddress: an address header does not hold valid addresses.
	ErrBadAddress = errors.New("bad address")
	// ErrLineTooLong: a value has a word too long for a 998-character line.
	ErrLineTooLong = errors.New("value has a word too long for a 998-character line")
	// ErrBadMessageID: Envelope.MessageID is not of the form left@right.
	ErrBadMessageID = errors.New("bad message ID")
)

// errNUL is reported for a NUL byte; it matches ErrLineBreak.
var errNUL = nulError{}

type nulError struct{}

func (nulError) Error() string        { return "value contains a NUL byte" }
func (nulError) Is(target error) bool { return target == ErrLineBreak }

// FieldError reports a header value that is unusable for one recipient.
type FieldError struct {
	Header string // field name, e.g. "Subject"
	Err    error  // ErrLineBreak, ErrBadAddress, ErrLineTooLong, ...
}

func (e *FieldError) Error() string { return fmt.Sprintf("header %q: %v", e.Header, e.Err) }

func (e *FieldError) Unwrap() error { return e.Err }
