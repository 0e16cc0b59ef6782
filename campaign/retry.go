package campaign

import (
	"math/rand/v2"
	"time"
)

// Retry is the schedule for deferred recipients: the one type the
// configuration (retry.*), a campaign's stored settings and a run use.
// Its tags are its keys; Wait is a run's alone and is not stored.
type Retry struct {
	// Schedule is the wait before each further attempt; the last entry
	// repeats. Every wait gets up to retryJitter of itself added or removed.
	Schedule []time.Duration `json:"schedule" mapstructure:"schedule"`
	// MaxAge: a recipient still deferred this long after its first
	// attempt fails as expired.
	MaxAge time.Duration `json:"max_age" mapstructure:"max_age"`
	// Wait: how long Run stays to retry deferred rows that fall due.
	Wait time.Duration `json:"-" mapstructure:"wait"`
}

// retryJitter spreads retries so that the rows a relay deferred together
// do not all come back in the same second.
const retryJitter = 0.1

// DefaultRetry follows Postfix and KumoMTA in spirit: the first retry soon
// enough to pass greylisting (5-60 min), later ones spaced out, and five
// days before giving up, like Postfix's maximal_queue_lifetime.
func DefaultRetry() Retry {
	return Retry{
		Schedule: []time.Duration{5 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour},
		MaxAge:   5 * 24 * time.Hour,
		Wait:     10 * time.Minute,
	}
}

// next is when attempt number attempts+1 may go, given attempts made.
func (r Retry) next(now time.Time, attempts int) time.Time {
	if len(r.Schedule) == 0 {
		return now
	}
	i := min(max(attempts-1, 0), len(r.Schedule)-1)
	d := r.Schedule[i]
	if j := time.Duration(float64(d) * retryJitter); j > 0 {
		d += rand.N(2*j+1) - j
	}
	return now.Add(d)
}
