package feedback

// STUBS of the shared contract, so the parallel work compiles. Each is
// replaced by its owner; none may survive into a release (see the test).

import (
	"context"
	"errors"
	"time"

	"github.com/mailblast/mailblast/ledger"
)

var errNotBuilt = errors.New("feedback: not built yet")

// ParseProvider reads one provider webhook payload (format "ses",
// "sendgrid" or "mailgun"), already authenticated or read from a file.
// Owner: listen.
func ParseProvider(format string, body []byte) ([]Event, error) { return nil, errNotBuilt }

// Options tune an Applier.
type Options struct {
	SoftBounceLimit  int
	SoftBounceWindow time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Applier matches Events to recipients and records them. Owner: core.
type Applier struct{}

// NewApplier reads the ledger's VERP key (creating it on first use).
func NewApplier(ctx context.Context, store ledger.Store, opts Options) (*Applier, error) {
	return nil, errNotBuilt
}

// Apply matches one Event and records it; safe for concurrent use.
func (a *Applier) Apply(ctx context.Context, ev Event) (Result, error) { return "", errNotBuilt }
