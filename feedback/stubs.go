package feedback

// STUBS of the shared contract, so the parallel work compiles. Each is
// replaced by its owner; none may survive into a release (see the test).

import (
	"errors"
)

var errNotBuilt = errors.New("feedback: not built yet")

// ParseProvider reads one provider webhook payload (format "ses",
// "sendgrid" or "mailgun"), already authenticated or read from a file.
// Owner: listen.
func ParseProvider(format string, body []byte) ([]Event, error) { return nil, errNotBuilt }
