package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// relaySchema keeps, per campaign, relay and minute, what each relay did:
// attempts by outcome and the throttling replies it gave. Most messages
// are sent at their first attempt, which the attempt log does not hold
// (the recipients row does, without its relay), so per relay figures are
// summed here, once per group commit: a row per relay per minute, a few
// thousand for a day-long campaign, however many recipients it has.
const relaySchema = `
CREATE TABLE IF NOT EXISTS relay_log (
	campaign_id INTEGER NOT NULL,
	relay TEXT NOT NULL,
	minute INTEGER NOT NULL,
	sent INTEGER NOT NULL DEFAULT 0,
	deferred INTEGER NOT NULL DEFAULT 0,
	bounced INTEGER NOT NULL DEFAULT 0,
	failed INTEGER NOT NULL DEFAULT 0,
	throttles INTEGER NOT NULL DEFAULT 0,
	first_at INTEGER NOT NULL,
	last_at INTEGER NOT NULL,
	PRIMARY KEY (campaign_id, relay, minute)
) WITHOUT ROWID;
`

// RelayStats is what one relay carried for a campaign: attempts by
// outcome, Bounced failed with a 5xx reply, Failed otherwise. Minutes counts the
// minutes in which it carried any attempt; PeakMinute the attempts of the
// busiest of them.
type RelayStats struct {
	Relay      string    `json:"relay"`
	Sent       int       `json:"sent"`
	Deferred   int       `json:"deferred"`
	Bounced    int       `json:"bounced"`
	Failed     int       `json:"failed"`
	Throttles  int       `json:"throttling_replies"`
	First      time.Time `json:"first_attempt"`
	Last       time.Time `json:"last_attempt"`
	Minutes    int       `json:"busy_minutes"`
	PeakMinute int       `json:"busiest_minute"`
}

// Attempts is every attempt the relay carried.
func (r RelayStats) Attempts() int { return r.Sent + r.Deferred + r.Bounced + r.Failed }

// PerMinute is the relay's rate: attempts per minute in which it carried
// any. A campaign resumed hours later is not diluted by the hours between.
func (r RelayStats) PerMinute() float64 {
	if r.Minutes == 0 {
		return 0
	}
	return float64(r.Attempts()) / float64(r.Minutes)
}

// relayCount is one relay's share of a batch.
type relayCount struct {
	relay                                      string
	sent, deferred, bounced, failed, throttles int
}

// applyRelays adds the batch's outcomes to relay_log: one statement per
// relay in the batch, none per message. Relay names are compared, not
// copied: a batch holds the few name strings of the run's pools.
func applyRelays(tx *sql.Tx, id int64, outs []Outcome, now int64) error {
	var buf [4]relayCount
	counts := buf[:0]
	for i := range outs {
		o := &outs[i]
		if o.Relay == "" || !o.Attempted && o.Throttles == 0 {
			continue
		}
		j := 0
		for j < len(counts) && counts[j].relay != o.Relay {
			j++
		}
		if j == len(counts) {
			counts = append(counts, relayCount{relay: o.Relay})
		}
		counts[j].add(o)
	}
	for _, c := range counts {
		if _, err := tx.Exec(upsertRelay, id, c.relay, now/60000, c.sent, c.deferred, c.bounced, c.failed, c.throttles, now); err != nil {
			return fmt.Errorf("ledger: relay %s: %w", c.relay, err)
		}
	}
	return nil
}

func (c *relayCount) add(o *Outcome) {
	c.throttles += o.Throttles
	if !o.Attempted {
		return
	}
	switch o.State {
	case Sent:
		c.sent++
	case Deferred:
		c.deferred++
	case Failed:
		if o.Code >= 500 {
			c.bounced++
		} else {
			c.failed++
		}
	}
}

const upsertRelay = `INSERT INTO relay_log (campaign_id, relay, minute, sent, deferred, bounced, failed, throttles, first_at, last_at)
	VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)
	ON CONFLICT (campaign_id, relay, minute) DO UPDATE SET sent = sent + ?4, deferred = deferred + ?5,
		bounced = bounced + ?6, failed = failed + ?7, throttles = throttles + ?8,
		first_at = MIN(first_at, ?9), last_at = MAX(last_at, ?9)`

// Relays is what each relay carried for the campaign, in name order:
// relay_log alone, a few rows per minute sent, so status can afford it.
func (s *SQLite) Relays(ctx context.Context, campaignID int64) ([]RelayStats, error) {
	var st Stats
	if err := s.statsRelays(ctx, campaignID, &st); err != nil {
		return nil, fmt.Errorf("ledger: relays: %w", err)
	}
	return st.Relays, nil
}

// statsRelays sums relay_log per relay, in name order.
func (s *SQLite) statsRelays(ctx context.Context, id int64, st *Stats) error {
	rows, err := s.rdb.QueryContext(ctx, `SELECT relay, SUM(sent), SUM(deferred), SUM(bounced), SUM(failed), SUM(throttles),
		MIN(first_at), MAX(last_at), SUM(sent + deferred + bounced + failed > 0), MAX(sent + deferred + bounced + failed)
		FROM relay_log WHERE campaign_id = ? GROUP BY relay ORDER BY relay`, id)
	return eachRow(rows, err, func(r *sql.Rows) error {
		var x RelayStats
		var first, last int64
		if err := r.Scan(&x.Relay, &x.Sent, &x.Deferred, &x.Bounced, &x.Failed, &x.Throttles, &first, &last, &x.Minutes, &x.PeakMinute); err != nil {
			return err
		}
		x.First, x.Last = FromMillis(first).UTC(), FromMillis(last).UTC()
		st.Relays = append(st.Relays, x)
		return nil
	})
}
