package campaign

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/sender"
)

// QuotaUse is where one relay stands against its quota and warm-up, for
// status. The counts are the ledger's: every campaign's sends through the
// relay.
type QuotaUse struct {
	Relay  string       `json:"relay"`
	Quota  *WindowUse   `json:"quota,omitempty"`
	Warmup *WarmupToday `json:"warmup,omitempty"`
	// NextRoom, when the relay has no room, is when it has again.
	NextRoom *time.Time `json:"next_room,omitempty"`
}

// WindowUse is a quota's rolling window (2000/24h): Used of it, Left.
type WindowUse struct {
	Quota string `json:"quota"`
	Used  int    `json:"used"`
	Left  int    `json:"left"`
}

// WarmupToday is today's date (UTC), its day of the schedule (0 before
// it starts), the volume allowed today and what is left of it.
type WarmupToday struct {
	Date      string `json:"date"`
	Day       int    `json:"day"`
	Allowance int    `json:"allowance"`
	Left      int    `json:"left"`
}

// Quotas is where the relays of s with a quota or a warm-up stand at now.
func Quotas(ctx context.Context, store ledger.Store, s Settings, now time.Time) ([]QuotaUse, error) {
	var out []QuotaUse
	for _, rs := range runRelays(s) {
		if rs.Quota.N == 0 && rs.Warmup == nil {
			continue
		}
		q := &relayQuota{name: relayName(rs), quota: rs.Quota, warmup: rs.Warmup, store: store,
			now: func() time.Time { return now }, logf: func(string, ...any) {}, commits: new(sync.RWMutex)}
		u, err := q.use(ctx, now)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// use reads the relay's counts and says where it stands.
func (q *relayQuota) use(ctx context.Context, now time.Time) (QuotaUse, error) {
	if err := q.read(ctx, now); err != nil {
		return QuotaUse{}, err
	}
	u := QuotaUse{Relay: q.name}
	if q.quota.N > 0 {
		u.Quota = &WindowUse{Quota: q.quota.String(), Used: q.window, Left: max(q.quota.N-q.window, 0)}
	}
	if q.warmup != nil {
		day, n, allowance := q.warmup.Day(now)
		u.Warmup = &WarmupToday{Date: day.Format(time.DateOnly), Day: n, Allowance: allowance, Left: max(allowance-q.today, 0)}
	}
	if !q.room(now) {
		at := q.nextRoom(ctx, now).UTC()
		u.NextRoom = &at
	}
	return u, nil
}

// String is status's line for the relay.
func (u QuotaUse) String() string {
	var parts []string
	if w := u.Quota; w != nil {
		parts = append(parts, fmt.Sprintf("quota %s: %d used, %d left", w.Quota, w.Used, w.Left))
	}
	if w := u.Warmup; w != nil {
		parts = append(parts, fmt.Sprintf("warm-up day %d (%s UTC): allowance %d, %d left", w.Day, w.Date, w.Allowance, w.Left))
	}
	if u.NextRoom != nil {
		parts = append(parts, "next room at "+u.NextRoom.Format(time.RFC3339))
	}
	return fmt.Sprintf("relay %s: %s", u.Relay, strings.Join(parts, "; "))
}

var _ sender.Allowance = (*relayQuota)(nil)

// QuotasOf is Quotas for the relays campaign c sends through: its
// stored settings with today's configuration on top (overlay, as resume
// does). Settings that do not decode show no quota: status still shows
// the rest.
func QuotasOf(ctx context.Context, store ledger.Store, c ledger.Campaign, overlay func(Settings) Settings) ([]QuotaUse, error) {
	s, err := DecodeSettings(c)
	if err != nil {
		return nil, nil // resume reports them; status is for looking
	}
	return Quotas(ctx, store, overlay(s), time.Now())
}
