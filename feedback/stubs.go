package feedback

// STUBS of the shared contract, so the parallel work compiles. Each is
// replaced by its owner; none may survive into a release (see the test).

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/mailblast/mailblast/ledger"
)

var errNotBuilt = errors.New("feedback: not built yet")

// Parse reads one message (RFC 5322) and says what it is. Owner: parser.
func Parse(r io.Reader) (Report, error) { return Report{}, errNotBuilt }

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
