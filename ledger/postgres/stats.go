package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mailblast/mailblast/ledger"
)

// feedbackStates are the states feedback after the 250 sets, as SQL.
const feedbackStates = "('bounced', 'complained', 'unsubscribed')"

// Stats sums the campaign up for a report, every figure aggregated in SQL
// as SQLite's (ledger/sqlite_stats.go), in one round trip.
func (s *Store) Stats(ctx context.Context, campaignID int64) (ledger.Stats, error) {
	var st ledger.Stats
	st.Texts = map[ledger.ReplyKey]ledger.TextCount{}
	var retried int
	b := &pgx.Batch{}
	s.queueRecipientStats(b, campaignID, &st)
	queueMinutes(b, campaignID, &st)
	queueTexts(b, campaignID, &st)
	queueRetried(b, campaignID, &st, &retried)
	b.Queue(`SELECT COUNT(*) FROM feedback WHERE campaign_id = $1`, campaignID).QueryRow(func(r pgx.Row) error { return r.Scan(&st.Feedback) })
	queueRelayStats(b, campaignID, &st.Relays)
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return st, wrap("stats", err)
	}
	st.Attempts[1] = st.Attempted - retried
	st.Attempts[0] = st.Counts.Total - st.Attempted
	return st, nil
}

func queueMinutes(b *pgx.Batch, id int64, st *ledger.Stats) {
	b.Queue(`SELECT m, state, code, enhanced, SUM(n)::bigint, MAX(text) FROM (
		SELECT at / 60000 AS m, state, code, enhanced, COUNT(*) AS n, MAX(text) AS text
		FROM attempt_log WHERE campaign_id = $1 AND state NOT IN `+feedbackStates+` GROUP BY 1, 2, 3, 4
		UNION ALL SELECT updated_at / 60000, 'sent', code, enhanced, COUNT(*), ''
		FROM recipients WHERE campaign_id = $1 AND state = 'sent' AND attempts = 1 GROUP BY 1, 3, 4) AS a
		GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`, id).Query(func(rows pgx.Rows) error {
		return each(rows, func() error {
			var m int64
			var x ledger.MinuteReplies
			var state string
			var code int32
			if err := rows.Scan(&m, &state, &code, &x.Reply.Enhanced, &x.Count, &x.Text); err != nil {
				return err
			}
			x.Minute, x.State, x.Reply.Code = time.UnixMilli(m*60000).UTC(), ledger.State(state), int(code)
			st.Minutes = append(st.Minutes, x)
			return nil
		})
	})
}

// queueTexts finds each non-2xx reply's most common text, and one text of
// a 2xx reply.
func queueTexts(b *pgx.Batch, id int64, st *ledger.Stats) {
	b.Queue(`SELECT code, enhanced, text, COUNT(*) FROM attempt_log
		WHERE campaign_id = $1 AND NOT code BETWEEN 200 AND 299 AND state NOT IN `+feedbackStates+` GROUP BY 1, 2, 3
		UNION ALL (SELECT code, enhanced, text, 0 FROM recipients
		WHERE campaign_id = $1 AND state = 'sent' AND text <> '' LIMIT 1)`, id).Query(func(rows pgx.Rows) error {
		return each(rows, func() error {
			var k ledger.ReplyKey
			var t ledger.TextCount
			var code int32
			if err := rows.Scan(&code, &k.Enhanced, &t.Text, &t.Count); err != nil {
				return err
			}
			k.Code = int(code)
			if old, ok := st.Texts[k]; !ok || t.Count > old.Count || t.Count == old.Count && t.Text < old.Text {
				st.Texts[k] = t
			}
			return nil
		})
	})
}

func acceptanceBin() string {
	bins := "CASE WHEN sent IS NULL THEN -1"
	for i, b := range ledger.AcceptanceBins[1 : len(ledger.AcceptanceBins)-1] {
		bins += fmt.Sprintf(" WHEN sent - first < %d THEN %d", b.Milliseconds(), i+1)
	}
	return bins + fmt.Sprintf(" ELSE %d END", len(ledger.AcceptanceBins)-1)
}

// queueRetried fills the histograms from 2 attempts up from the attempt
// log, and counts the recipients with more than one attempt.
func queueRetried(b *pgx.Batch, id int64, st *ledger.Stats, retried *int) {
	b.Queue(`SELECT LEAST(n, $1) AS k, `+acceptanceBin()+` AS b, COUNT(*)
		FROM (SELECT MAX(n) AS n, MAX(CASE WHEN state = 'sent' THEN at END) AS sent, MIN(at) AS first
			FROM attempt_log WHERE campaign_id = $2 AND state NOT IN `+feedbackStates+` GROUP BY row) AS a
		WHERE n > 1 GROUP BY 1, 2`, ledger.MaxAttempts, id).Query(func(rows pgx.Rows) error {
		return each(rows, func() error {
			var n, bin int32
			var count int
			if err := rows.Scan(&n, &bin, &count); err != nil {
				return err
			}
			st.Attempts[n] += count
			*retried += count
			if bin >= 0 {
				st.Acceptance[bin] += count
			}
			return nil
		})
	})
}

// perDomain are the sums taken per domain (ledger/sqlite_stats.go); x6 is
// the rows in flight: claimed and waiting.
var perDomain = [...]string{"state = 'sent'", "state = 'deferred' AND NOT claimed", "state = 'failed' AND code >= 500",
	"state = 'failed' AND code < 500", "state = 'skipped'", "state IN ('new', 'pending') AND NOT claimed",
	"claimed AND state IN " + waitingStates, "recovered > 0", "attempts > 0", "state IN ('sent', " + feedbackStates[1:] + " AND attempts = 1",
	"state = 'bounced'", "state = 'complained'", "state = 'unsubscribed'", "state = 'bounced' AND enhanced LIKE '5.%'"}

// queueRecipientStats reads the recipients once, grouped by domain: the top
// domains (kind 0) and the sum of every domain (kind 1).
func (s *Store) queueRecipientStats(b *pgx.Batch, id int64, st *ledger.Stats) {
	var sums, totals, cols strings.Builder
	for i, e := range perDomain {
		fmt.Fprintf(&sums, ", COUNT(*) FILTER (WHERE %s) AS x%d", e, i)
		fmt.Fprintf(&totals, ", COALESCE(SUM(x%d), 0)::bigint", i)
		fmt.Fprintf(&cols, ", x%d", i)
	}
	b.Queue(`WITH g AS MATERIALIZED (
		SELECT lower(substr(email, strpos(email, '@') + 1)) AS d, COUNT(*) AS c`+sums.String()+`
		FROM recipients WHERE campaign_id = $1 GROUP BY 1)
	(SELECT 0, d, c`+cols.String()+` FROM g ORDER BY c DESC, d COLLATE "C" LIMIT $2)
	UNION ALL SELECT 1, '', COALESCE(SUM(c), 0)::bigint`+totals.String()+` FROM g`, id, ledger.TopDomains).Query(func(rows pgx.Rows) error {
		return each(rows, func() error { return scanDomain(rows, st) })
	})
}

func scanDomain(rows pgx.Rows, st *ledger.Stats) error {
	var kind int32
	var d ledger.DomainStats
	var x [len(perDomain)]int
	dest := []any{&kind, &d.Domain, &d.Total}
	for i := range x {
		dest = append(dest, &x[i])
	}
	if err := rows.Scan(dest...); err != nil {
		return err
	}
	if kind == 0 {
		d.Sent, d.Deferred, d.Bounced, d.Failed, d.Skipped = x[0], x[1], x[2], x[3], x[4]
		st.Domains = append(st.Domains, d)
		return nil
	}
	st.Counts = ledger.Counts{Total: d.Total, Sent: x[0], Deferred: x[1], Failed: x[2] + x[3], Skipped: x[4],
		Pending: x[5], InFlight: x[6], Recovered: x[7], Bounced: x[10], Complained: x[11], Unsubscribed: x[12]}
	st.HardBounced, st.Attempted, st.Acceptance[0] = x[2], x[8], x[9]
	st.LateHardBounced = x[13]
	return nil
}

// Relays is what each relay carried for the campaign, in name order.
func (s *Store) Relays(ctx context.Context, campaignID int64) ([]ledger.RelayStats, error) {
	var out []ledger.RelayStats
	b := &pgx.Batch{}
	queueRelayStats(b, campaignID, &out)
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, wrap("relays", err)
	}
	return out, nil
}

func queueRelayStats(b *pgx.Batch, id int64, out *[]ledger.RelayStats) {
	b.Queue(`SELECT relay, SUM(sent)::bigint, SUM(deferred)::bigint, SUM(bounced)::bigint, SUM(failed)::bigint, SUM(throttles)::bigint,
		MIN(first_at), MAX(last_at), COUNT(*) FILTER (WHERE sent + deferred + bounced + failed > 0), MAX(sent + deferred + bounced + failed)
		FROM relay_log WHERE campaign_id = $1 GROUP BY relay ORDER BY relay COLLATE "C"`, id).Query(func(rows pgx.Rows) error {
		return each(rows, func() error {
			var x ledger.RelayStats
			var first, last int64
			var peak int32
			if err := rows.Scan(&x.Relay, &x.Sent, &x.Deferred, &x.Bounced, &x.Failed, &x.Throttles, &first, &last, &x.Minutes, &peak); err != nil {
				return err
			}
			x.PeakMinute = int(peak)
			x.First, x.Last = ledger.FromMillis(first).UTC(), ledger.FromMillis(last).UTC()
			*out = append(*out, x)
			return nil
		})
	})
}

func each(rows pgx.Rows, fn func() error) error {
	defer rows.Close()
	for rows.Next() {
		if err := fn(); err != nil {
			return err
		}
	}
	return rows.Err()
}
