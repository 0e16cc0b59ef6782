package sender

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"unicode/utf8"

	"github.com/emersion/go-smtp"
)

// Error is an SMTP outcome other than success: a reply from the relay, or
// trouble with the connection to it. It is built once, where the reply is
// read, and never re-classified by matching its text.
type Error struct {
	Code      int    // reply code; 0 when the relay never replied
	Enhanced  string // RFC 3463 code such as "5.1.1", when given
	Message   string // reply text or transport error
	Command   string // CONNECT, TLS, EHLO, AUTH, MAIL, RCPT, DATA
	Permanent bool   // 5xx: do not try this recipient again
	// Relay marks trouble that is not the recipient's fault: no
	// connection, TLS failure, timeout, dropped connection, 421.
	Relay bool
	// NotAttempted: the message never went out (the relay lacks a
	// capability the recipient needs); the row is skipped, not failed.
	NotAttempted bool
	Err          error
}

func (e *Error) Error() string {
	if e.Code == 0 {
		return fmt.Sprintf("%s: %s", e.Command, e.Message)
	}
	if e.Enhanced != "" {
		return fmt.Sprintf("%s: %d %s %s", e.Command, e.Code, e.Enhanced, e.Message)
	}
	return fmt.Sprintf("%s: %d %s", e.Command, e.Code, e.Message)
}

// Unwrap gives the transport error, if any.
func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether a later attempt may succeed.
func (e *Error) Temporary() bool { return !e.Permanent }

// Throttle reports a relay asking us to slow down: 421, 454, 4.7.x, 450
// 4.2.1. A 421 4.4.2 closes a connection left idle too long: not throttling.
func (e *Error) Throttle() bool {
	switch {
	case e.Code == 421 && e.Enhanced == "4.4.2":
		return false
	case e.Code == 421 || e.Code == 454:
		return true
	case e.Code/100 == 4 && len(e.Enhanced) > 2 && e.Enhanced[:3] == "4.7":
		return true
	case e.Code == 450 && e.Enhanced == "4.2.1":
		return true
	}
	return false
}

// Classify turns what a go-smtp call returned into an *Error (nil for nil).
func Classify(command string, err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return fromReply(command, se)
	}
	if isConfigError(err) {
		// go-smtp shakes hands lazily, so a bad certificate can surface
		// on the first command after STARTTLS; it is still a TLS failure.
		command = "TLS"
	}
	return &Error{Command: command, Message: clip(transportText(err)), Relay: true, Permanent: isConfigError(err), Err: err}
}

func fromReply(command string, se *smtp.SMTPError) *Error {
	e := &Error{Command: command, Code: se.Code, Message: clip(se.Message), Err: se}
	if se.EnhancedCode != (smtp.EnhancedCode{}) && se.EnhancedCode != smtp.NoEnhancedCode {
		c := se.EnhancedCode
		e.Enhanced = strconv.Itoa(c[0]) + "." + strconv.Itoa(c[1]) + "." + strconv.Itoa(c[2])
	}
	e.Permanent = se.Code >= 500
	// 421 closes the channel (RFC 5321 3.8); failures before MAIL concern
	// the session, never a recipient.
	e.Relay = se.Code == 421 || command == "CONNECT" || command == "EHLO" || command == "TLS" || command == "AUTH"
	return e
}

// clip cuts a text to MaxReplyText bytes, on a character boundary: a
// relay's reply ends up in the ledger, and a hostile one may be huge.
func clip(s string) string {
	if len(s) <= MaxReplyText {
		return s
	}
	cut := MaxReplyText - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

func transportText(err error) string {
	var record tls.RecordHeaderError
	switch {
	case errors.As(err, &record):
		return err.Error() + " (the relay does not speak TLS here: check smtp.tls and smtp.port)"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by the relay"
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return "timed out: " + err.Error()
	}
	return err.Error()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isConfigError spots failures no retry will cure: a certificate that does
// not verify is a configuration problem, not a passing one.
func isConfigError(err error) bool {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	var record tls.RecordHeaderError // plain text where TLS was expected
	return errors.As(err, &unknown) || errors.As(err, &host) || errors.As(err, &invalid) || errors.As(err, &verify) ||
		errors.As(err, &record)
}

// MaxReplyText is the most of a reply's text an Error keeps, in bytes;
// longer texts are cut and end in "...".
const MaxReplyText = 1000
