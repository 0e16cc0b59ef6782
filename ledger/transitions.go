package ledger

import (
	"errors"
	"fmt"
	"strings"
)

// ErrIllegalTransition is an outcome for a row whose state does not allow
// it: a row already sent, failed or skipped is never written over.
var ErrIllegalTransition = errors.New("illegal state transition")

// waiting are the states a row has while more may happen to it: fresh
// (never claimed, stored "new"), pending, deferred, and the "inflight" an
// older ledger stored. A claim does not change the stored state.
var waiting = []State{fresh, Pending, Deferred, InFlight}

// transitions is the recipient lifecycle, the one table every write is
// checked against: for each state an outcome may set, the states the row
// may be in before it. Sent, Failed and Skipped are final: no attempt
// leaves them; only feedback about a delivered message moves a sent row
// on, and never back. The package doc draws the same table.
var transitions = map[State][]State{
	Pending:  waiting, // a claimed row released unsent, or resent after a crash
	Deferred: waiting, // a transient refusal: due again at NextAttempt
	Sent:     waiting,
	Failed:   waiting, // permanent refusal, or deferred past retry.max_age
	Skipped:  waiting, // suppressed, duplicate, bad data, abandoned, --in-flight skip
	// Feedback after the 250: a row never delivered cannot bounce.
	Bounced:      {Sent},
	Complained:   {Sent, Bounced},
	Unsubscribed: {Sent, Bounced, Complained},
}

// allows reports whether the table lets a row in state from move to to.
func allows(from, to State) bool {
	for _, s := range transitions[to] {
		if s == from {
			return true
		}
	}
	return false
}

// allowedFrom is the SQL list of the states an outcome to may come from,
// e.g. ('new', 'pending', 'deferred', 'inflight').
func allowedFrom(to State) (string, error) {
	from, ok := transitions[to]
	if !ok {
		return "", fmt.Errorf("%w: nothing moves a row to %q", ErrIllegalTransition, to)
	}
	quoted := make([]string, len(from))
	for i, s := range from {
		quoted[i] = "'" + string(s) + "'"
	}
	return "(" + strings.Join(quoted, ", ") + ")", nil
}

// AllowedFrom is the lifecycle table's list of the states a row may be in
// before an outcome or report moves it to to (none: nothing moves a row
// there). Other backends check their writes against it.
func AllowedFrom(to State) []State {
	return append([]State(nil), transitions[to]...)
}
