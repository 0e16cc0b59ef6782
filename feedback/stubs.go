package feedback

// STUBS of the shared contract, so the parallel work compiles. Each is
// replaced by its owner; none may survive into a release (see the test).

import (
	"errors"
	"io"
)

var errNotBuilt = errors.New("feedback: not built yet")

// Parse reads one message (RFC 5322) and says what it is. Owner: parser.
func Parse(r io.Reader) (Report, error) { return Report{}, errNotBuilt }

// ParseProvider reads one provider webhook payload (format "ses",
// "sendgrid" or "mailgun"), already authenticated or read from a file.
// Owner: listen.
func ParseProvider(format string, body []byte) ([]Event, error) { return nil, errNotBuilt }
