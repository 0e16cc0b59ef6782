package campaign

import (
	"context"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/sender"
)

// quotaRefresh is how stale a relay's count from the ledger may get
// during a run: other runs (another campaign, another worker on a shared
// ledger) may send through the same relay meanwhile. The count is also
// read again after every hundredth of the limit this run takes, so that
// runs sending at once overshoot it by about 1% each, however fast they
// send; at 1M recipients a read costs about 1 ms.
const quotaRefresh = 5 * time.Second

// quotas are the run's relays that have a quota or a warm-up: the
// sender's Allowance of each, counted from the ledger (every campaign's
// sends through that relay) plus this run's messages the ledger does not
// hold yet. nil when no relay has either.
type quotas struct {
	// commits is held for writing while the committer commits and counts
	// (quotaStore), for reading while a relay reads its count: a read
	// then sees each commit in both the ledger and committed, or in neither.
	commits sync.RWMutex
	relays  map[string]*relayQuota
	all     bool // every relay of the run has one: the run can run out of room
}

// relayQuota is one relay's Allowance. Its use is the ledger's count at
// the last read, less this run's messages committed by then, plus every
// message of this run taken and not given back: exact whatever commits
// between reads, since granted-returned-committed is what this run has
// accepted or on the wire and not yet in the ledger (commits keeps a
// commit from falling between reading the two).
type relayQuota struct {
	name      string
	quota     sender.Quota
	warmup    *sender.Warmup
	store     ledger.Store
	now       func() time.Time
	logf      func(string, ...any)
	committed atomic.Int64 // this run's accepted messages the ledger holds
	commits   *sync.RWMutex

	mu                sync.Mutex
	readAt            time.Time
	window, today     int // the ledger's counts at readAt, less committed then
	granted, returned int
	sinceRead         int       // messages taken since the last read
	full              bool      // the last Take found no room
	said              bool      // and said so
	roomAt            time.Time // when full: when room comes back
}

// relayName is the name the sender gives a relay, which the ledger counts
// its sends under: its entry's name, or host:port for smtp.* alone.
func relayName(rs RelaySettings) string {
	if rs.Name != "" {
		return rs.Name
	}
	return net.JoinHostPort(rs.Host, strconv.Itoa(rs.Port))
}

// runRelays are the relays a run of s sends through.
func runRelays(s Settings) []RelaySettings {
	if len(s.Relays) > 0 {
		return s.Relays
	}
	return []RelaySettings{{Settings: s.SMTP}}
}

// limitRelays gives the run's relays their quotas and warm-ups.
func (r *run) limitRelays() {
	q := &quotas{relays: map[string]*relayQuota{}}
	for _, rs := range runRelays(r.opts.Settings) {
		if rs.Quota.N > 0 || rs.Warmup != nil {
			q.relays[relayName(rs)] = &relayQuota{name: relayName(rs), quota: rs.Quota, warmup: rs.Warmup,
				store: r.store, now: r.opts.now, logf: r.logf, commits: &q.commits}
		}
	}
	if len(q.relays) == 0 {
		return
	}
	q.all = len(q.relays) == len(runRelays(r.opts.Settings))
	r.quota = q
	r.pool.Limit(func(name string) sender.Allowance {
		if rq := q.relays[name]; rq != nil {
			return rq
		}
		return nil
	})
}

// Take reserves room for one message, reading the ledger again when the
// last count is older than quotaRefresh, from another day, or a hundredth
// of the limit ago.
func (q *relayQuota) Take() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	if now.Sub(q.readAt) >= quotaRefresh || !sameDay(now, q.readAt) || q.sinceRead >= q.step(now) {
		if err := q.read(context.Background(), now); err != nil {
			q.logf("relay %s: counting its quota: %v", q.name, err)
		}
	}
	if !q.room(now) {
		q.close(now)
		return false
	}
	q.granted++
	q.sinceRead++
	q.full, q.said = false, false
	return true
}

// step is how many messages may be taken between two reads: a hundredth
// of the smaller limit, at least 1.
func (q *relayQuota) step(now time.Time) int {
	limit := q.quota.N
	if q.warmup != nil {
		_, _, allowance := q.warmup.Day(now)
		if limit == 0 || allowance < limit {
			limit = allowance
		}
	}
	return max(limit/100, 1)
}

// Return gives back the room of a message the relay did not accept.
func (q *relayQuota) Return() {
	q.mu.Lock()
	q.returned++
	q.mu.Unlock()
}

func sameDay(a, b time.Time) bool {
	return a.UTC().Truncate(24 * time.Hour).Equal(b.UTC().Truncate(24 * time.Hour))
}

// read counts the relay's sends in the ledger, and this run's committed
// ones, with no commit in between.
func (q *relayQuota) read(ctx context.Context, now time.Time) error {
	q.commits.RLock()
	defer q.commits.RUnlock()
	mine := int(q.committed.Load())
	window, today, err := q.counts(ctx, now)
	if err != nil {
		return err
	}
	q.window, q.today, q.readAt, q.sinceRead = window-mine, today-mine, now, 0
	return nil
}

// counts are the ledger's counts of the quota's window and the warm-up's
// day (UTC) up to now.
func (q *relayQuota) counts(ctx context.Context, now time.Time) (window, today int, err error) {
	if q.quota.N > 0 {
		if window, err = q.store.SentSince(ctx, q.name, now.Add(-q.quota.Window)); err != nil {
			return 0, 0, err
		}
	}
	if q.warmup != nil {
		day, _, _ := q.warmup.Day(now)
		today, err = q.store.SentSince(ctx, q.name, day)
	}
	return window, today, err
}

// pending is this run's messages taken and not given back that the
// ledger's last count did not hold.
func (q *relayQuota) pending() int { return q.granted - q.returned }

// room: one more message fits the quota's window and the day's warm-up.
func (q *relayQuota) room(now time.Time) bool {
	if q.quota.N > 0 && q.window+q.pending() >= q.quota.N {
		return false
	}
	if q.warmup != nil {
		_, _, allowance := q.warmup.Day(now)
		return q.today+q.pending() < allowance
	}
	return true
}

// close marks the relay full, works out when it has room again, and says
// so once.
func (q *relayQuota) close(now time.Time) {
	if !q.full {
		q.roomAt = q.nextRoom(context.Background(), now)
	}
	q.full = true
	if q.said {
		return
	}
	q.said = true
	at := q.roomAt.UTC().Format(time.RFC3339)
	if q.quota.N > 0 && q.window+q.pending() >= q.quota.N {
		q.logf("quota %s of relay %s used up; next room at %s", q.quota, q.name, at)
	}
	if q.warmup != nil {
		day, n, allowance := q.warmup.Day(now)
		if q.today+q.pending() >= allowance {
			q.logf("warm-up allowance %d of relay %s for %s (day %d of smtp.warmup) used up; next room at %s",
				allowance, q.name, day.Format(time.DateOnly), n, at)
		}
	}
}

// nextRoom is when the relay has room again if nothing more is sent: the
// later of the next UTC day (warm-up used up) and the moment enough of
// the window's oldest sends have left it (quota used up).
func (q *relayQuota) nextRoom(ctx context.Context, now time.Time) time.Time {
	at := now
	if q.warmup != nil {
		day, _, allowance := q.warmup.Day(now)
		if q.today+q.pending() >= allowance {
			at = day.Add(24 * time.Hour)
		}
	}
	if q.quota.N == 0 || q.window+q.pending() < q.quota.N {
		return at
	}
	q.commits.RLock()
	minutes, err := q.store.SentMinutes(ctx, q.name, now.Add(-q.quota.Window))
	extra := q.pending() - int(q.committed.Load())
	q.commits.RUnlock()
	if err != nil {
		q.logf("relay %s: reading its quota window: %v", q.name, err)
		return laterOf(at, now.Add(q.quota.Window))
	}
	return laterOf(at, windowRoom(minutes, extra, q.quota, now))
}

// windowRoom is when a quota's window, holding minutes from the ledger
// and extra messages not in it yet (counted as sent now), has room for
// one more: when the oldest sends that put it at or over N have left.
func windowRoom(minutes []ledger.SentMinute, extra int, quota sender.Quota, now time.Time) time.Time {
	used := max(extra, 0)
	for _, m := range minutes {
		used += m.Sent
	}
	leave := used - quota.N + 1
	for _, m := range minutes {
		if leave -= m.Sent; leave <= 0 {
			return m.Minute.Add(time.Minute + quota.Window)
		}
	}
	return now.Truncate(time.Minute).Add(time.Minute + quota.Window)
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
