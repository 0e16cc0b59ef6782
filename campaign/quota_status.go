package campaign

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/sender"
)

// QuotaUse is where one relay stands against its quota and warm-up, for
// status. The counts are the ledger's: every campaign's sends through the
// relay.
type QuotaUse struct {
	Relay string `json:"relay"`
	// Quota is the rolling window (2000/24h): Used of it, Left.
	Quota string `json:"quota,omitempty"`
	Used  int    `json:"window_used"`
	Left  int    `json:"window_left"`
	// Warm-up: today's date (UTC), its day of the schedule, the volume
	// allowed today and what is left of it.
	Today          string `json:"warmup_date,omitempty"`
	Day            int    `json:"warmup_day,omitempty"`
	Allowance      int    `json:"allowance,omitempty"`
	AllowanceLeft  int    `json:"allowance_left"`
	hasQuota, warm bool
	// NextRoom, when the relay has no room, is when it has again.
	NextRoom *time.Time `json:"next_room,omitempty"`
}

// Quotas is where the relays of s with a quota or a warm-up stand at now.
func Quotas(ctx context.Context, store ledger.Store, s Settings, now time.Time) ([]QuotaUse, error) {
	var out []QuotaUse
	for _, rs := range runRelays(s) {
		if rs.Quota.N == 0 && rs.Warmup == nil {
			continue
		}
		q := &relayQuota{name: relayName(rs), quota: rs.Quota, warmup: rs.Warmup, store: store,
			now: func() time.Time { return now }, logf: func(string, ...any) {}}
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
	u := QuotaUse{Relay: q.name, hasQuota: q.quota.N > 0, warm: q.warmup != nil}
	if u.hasQuota {
		u.Quota, u.Used, u.Left = q.quota.String(), q.window, max(q.quota.N-q.window, 0)
	}
	if u.warm {
		day, n, allowance := q.warmup.Day(now)
		u.Today, u.Day, u.Allowance, u.AllowanceLeft = day.Format(time.DateOnly), n, allowance, max(allowance-q.today, 0)
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
	if u.hasQuota {
		parts = append(parts, fmt.Sprintf("quota %s: %d used, %d left", u.Quota, u.Used, u.Left))
	}
	if u.warm {
		parts = append(parts, fmt.Sprintf("warm-up day %d (%s UTC): allowance %d, %d left", u.Day, u.Today, u.Allowance, u.AllowanceLeft))
	}
	if u.NextRoom != nil {
		parts = append(parts, "next room at "+u.NextRoom.Format(time.RFC3339))
	}
	return fmt.Sprintf("relay %s: %s", u.Relay, strings.Join(parts, "; "))
}

var _ sender.Allowance = (*relayQuota)(nil)

// CampaignQuotas is Quotas for the relays campaign c sends through: its
// stored settings with today's configuration on top (overlay, as resume
// does).
func CampaignQuotas(ctx context.Context, store ledger.Store, c ledger.Campaign, overlay func(Settings) Settings) ([]QuotaUse, error) {
	s, err := DecodeSettings(c)
	if err != nil {
		return nil, err
	}
	return Quotas(ctx, store, overlay(s), time.Now())
}
