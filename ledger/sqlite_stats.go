package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Stats is a campaign summed up for a report. Every figure is aggregated in
// SQL, so its size depends on the campaign's length in minutes, its reply
// codes and its domains, never on how many recipients it has.
type Stats struct {
	Counts Counts
	// Attempted is how many recipients had at least one attempt;
	// HardBounced how many of them failed with a 5xx reply.
	Attempted, HardBounced int
	// LateHardBounced is how many were accepted, then bounced later
	// with a permanent (5.x.x) status: a DSN or a provider's event.
	LateHardBounced int
	// Minutes holds every attempt by the minute it was recorded, its
	// outcome and its reply, oldest first.
	Minutes []MinuteReplies
	// Domains are the TopDomains recipient domains with most recipients.
	Domains []DomainStats
	// Texts is, for each non-2xx reply, the relay's most common text, and
	// for one 2xx reply one of its texts (Count 0).
	Texts map[ReplyKey]TextCount
	// Attempts counts recipients by attempts made (capped at MaxAttempts:
	// that entry counts MaxAttempts or more); Acceptance counts sent
	// recipients by how long after their first attempt the relay took them.
	Attempts   [MaxAttempts + 1]int
	Acceptance [len(AcceptanceBins)]int
	// Feedback is how many reports after the 250 were recorded for the
	// campaign (0: none was ever read, so complaint rates are unknown).
	Feedback int
	// Relays is what each relay carried, by name (ledger/sqlite_relays.go);
	// empty for attempts made before relays were recorded.
	Relays []RelayStats
}

// ReplyKey is a reply code with its enhanced code ("" when none).
type ReplyKey struct {
	Code     int
	Enhanced string
}

// TextCount is a reply text and how many times it was seen.
type TextCount struct {
	Text  string
	Count int
}

// MinuteReplies is how many attempts in one minute ended in State with one
// reply; Text is one of their texts.
type MinuteReplies struct {
	Minute time.Time
	State  State
	Reply  ReplyKey
	Count  int
	Text   string
}

// DomainStats is where the recipients of one domain stand. Bounced counts
// failures with a 5xx reply; Failed the other failures.
type DomainStats struct {
	Domain                                          string
	Total, Sent, Deferred, Bounced, Failed, Skipped int
}

// TopDomains is how many domains Stats keeps; MaxAttempts where its
// attempts histogram stops.
const (
	TopDomains  = 20
	MaxAttempts = 10
)

// AcceptanceBins are the upper bounds of Stats.Acceptance's bins: the first
// is "at the first attempt", the last is open.
var AcceptanceBins = [...]time.Duration{0, time.Minute, 10 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour, 1<<63 - 1}

// attemptMinutes is every attempt of campaign ?1 by minute, outcome and
// reply: the log holds all but a message sent at its first attempt, which
// only its recipients row holds. Those are most rows, so they are grouped
// on integers alone, without their texts (each carries its queue ID).
// Feedback entries (bounced, complained, unsubscribed) are reports, not
// attempts: they stay out of every attempt figure.
const attemptMinutes = `SELECT at / 60000 AS m, state, code, enhanced, COUNT(*) AS n, MAX(text) AS text
	FROM attempt_log WHERE campaign_id = ?1 AND state NOT IN ` + feedbackStates + ` GROUP BY m, state, code, enhanced
	UNION ALL SELECT updated_at / 60000 AS m, 'sent', code, enhanced, COUNT(*), ''
	FROM recipients WHERE campaign_id = ?1 AND state = 'sent' AND attempts = 1 GROUP BY m, code, enhanced`

// Stats sums the campaign up. The recipients table is read in full twice,
// at once on the ledger's two connections: grouped by domain, and for the
// attempts the log does not hold. The attempt log, usually far smaller,
// gives the rest. The two goroutines fill different fields of st (the
// histograms: different elements).
func (s *SQLite) Stats(ctx context.Context, campaignID int64) (Stats, error) {
	var st Stats
	var other error
	var retried int
	done := make(chan struct{})
	go func() {
		defer close(done)
		if other = s.statsMinutes(ctx, campaignID, &st); other != nil {
			return
		}
		if other = s.statsTexts(ctx, campaignID, &st); other != nil {
			return
		}
		retried, other = s.statsRetried(ctx, campaignID, &st)
	}()
	err := s.statsRecipients(ctx, campaignID, &st)
	<-done
	if err = errors.Join(err, other); err != nil {
		return st, fmt.Errorf("ledger: stats: %w", err)
	}
	if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM feedback WHERE campaign_id = ?`, campaignID).Scan(&st.Feedback); err != nil {
		return st, fmt.Errorf("ledger: stats: %w", err)
	}
	if err := s.statsRelays(ctx, campaignID, &st); err != nil {
		return st, fmt.Errorf("ledger: stats: %w", err)
	}
	st.Attempts[1] = st.Attempted - retried
	st.Attempts[0] = st.Counts.Total - st.Attempted
	return st, nil
}

func (s *SQLite) statsMinutes(ctx context.Context, id int64, st *Stats) error {
	rows, err := s.rdb.QueryContext(ctx, `SELECT m, state, code, enhanced, SUM(n), MAX(text)
		FROM (`+attemptMinutes+`) GROUP BY m, state, code, enhanced ORDER BY m`, id)
	return eachRow(rows, err, func(r *sql.Rows) error {
		var m int64
		var x MinuteReplies
		if err := r.Scan(&m, &x.State, &x.Reply.Code, &x.Reply.Enhanced, &x.Count, &x.Text); err != nil {
			return err
		}
		x.Minute = time.UnixMilli(m * 60000).UTC()
		st.Minutes = append(st.Minutes, x)
		return nil
	})
}

// statsTexts finds each non-2xx reply's most common text, and one text of
// the first 2xx reply: a 2xx text carries a queue ID, so counting those
// would group every message apart.
func (s *SQLite) statsTexts(ctx context.Context, id int64, st *Stats) error {
	st.Texts = map[ReplyKey]TextCount{}
	rows, err := s.rdb.QueryContext(ctx, `SELECT code, enhanced, text, COUNT(*) FROM attempt_log
		WHERE campaign_id = ?1 AND NOT code BETWEEN 200 AND 299 AND state NOT IN `+feedbackStates+` GROUP BY code, enhanced, text
		UNION ALL SELECT * FROM (SELECT code, enhanced, text, 0 FROM recipients
		WHERE campaign_id = ?1 AND state = 'sent' AND text <> '' LIMIT 1)`, id)
	return eachRow(rows, err, func(r *sql.Rows) error {
		var k ReplyKey
		var t TextCount
		if err := r.Scan(&k.Code, &k.Enhanced, &t.Text, &t.Count); err != nil {
			return err
		}
		if old, ok := st.Texts[k]; !ok || t.Count > old.Count || t.Count == old.Count && t.Text < old.Text {
			st.Texts[k] = t
		}
		return nil
	})
}

// acceptanceBin is the SQL for the Acceptance bin after the first of a
// recipient sent at column sent, first tried at column first.
func acceptanceBin() string {
	bins := "CASE"
	for i, b := range AcceptanceBins[1 : len(AcceptanceBins)-1] {
		bins += fmt.Sprintf(" WHEN sent - first < %d THEN %d", b.Milliseconds(), i+1)
	}
	return bins + fmt.Sprintf(" ELSE %d END", len(AcceptanceBins)-1)
}

// perDomain are the sums statsRecipients takes per domain, in the order
// of scanDomain's fields after Total.
var perDomain = [...]string{"state = 'sent'", "state = 'deferred'", "state = 'failed' AND code >= 500",
	"state = 'failed' AND code < 500", "state = 'skipped'", "state IN ('new', 'pending')", "state = 'inflight'",
	"recovered > 0", "attempts > 0", "state IN ('sent', " + feedbackStates[1:] + " AND attempts = 1",
	"state = 'bounced'", "state = 'complained'", "state = 'unsubscribed'", "state = 'bounced' AND enhanced LIKE '5.%'"}

// feedbackStates are the states feedback after the 250 sets, as SQL.
const feedbackStates = "('bounced', 'complained', 'unsubscribed')"

// statsRecipients reads the recipients once, grouped by domain, and
// returns the top domains (kind 0) and the sum of every domain (kind 1).
// GROUP BY sorts, so the other figures are sums beside the domain rather
// than keys of their own: that costs far less on a million rows.
func (s *SQLite) statsRecipients(ctx context.Context, id int64, st *Stats) error {
	sums, totals, cols := "", "", ""
	for i, e := range perDomain {
		sums += fmt.Sprintf(", SUM(%s) AS x%d", e, i)
		totals += fmt.Sprintf(", IFNULL(SUM(x%d), 0)", i)
		cols += fmt.Sprintf(", x%d", i)
	}
	rows, err := s.db.QueryContext(ctx, `WITH g AS MATERIALIZED (
		SELECT lower(substr(email, instr(email, '@') + 1)) AS d, COUNT(*) AS c`+sums+`
		FROM recipients WHERE campaign_id = ? GROUP BY d)
	SELECT * FROM (SELECT 0, d, c`+cols+` FROM g ORDER BY c DESC, d LIMIT ?)
	UNION ALL SELECT 1, '', IFNULL(SUM(c), 0)`+totals+` FROM g`, id, TopDomains)
	err = eachRow(rows, err, func(r *sql.Rows) error {
		var kind int
		var d DomainStats
		var x [len(perDomain)]int
		dest := []any{&kind, &d.Domain, &d.Total}
		for i := range x {
			dest = append(dest, &x[i])
		}
		if err := r.Scan(dest...); err != nil {
			return err
		}
		if kind == 0 {
			d.Sent, d.Deferred, d.Bounced, d.Failed, d.Skipped = x[0], x[1], x[2], x[3], x[4]
			st.Domains = append(st.Domains, d)
			return nil
		}
		st.Counts = Counts{Total: d.Total, Sent: x[0], Deferred: x[1], Failed: x[2] + x[3], Skipped: x[4],
			Pending: x[5], InFlight: x[6], Recovered: x[7], Bounced: x[10], Complained: x[11], Unsubscribed: x[12]}
		st.HardBounced, st.Attempted, st.Acceptance[0] = x[2], x[8], x[9]
		st.LateHardBounced = x[13]
		return nil
	})
	if err != nil {
		return err
	}
	return s.statsInFlight(ctx, id, st)
}

// statsRetried fills the histograms from 2 attempts up, and returns how
// many recipients had more than one: every attempt after a first is in
// the attempt log, so the log finds them without a scan of every
// recipient. A sent recipient's first attempt bin is statsRecipients'.
func (s *SQLite) statsRetried(ctx context.Context, id int64, st *Stats) (retried int, err error) {
	// The log's key orders it by row: grouping by row needs no sort. A
	// row's one sent attempt, if any, is its last.
	rows, err := s.rdb.QueryContext(ctx, `SELECT MIN(n, ?1) AS k,
		CASE WHEN sent IS NULL THEN -1 `+strings.Replace(acceptanceBin(), "CASE", "", 1)+` AS b, COUNT(*)
		FROM (SELECT MAX(n) AS n, MAX(CASE WHEN state = 'sent' THEN at END) AS sent, MIN(at) AS first
			FROM attempt_log WHERE campaign_id = ?2 AND state NOT IN `+feedbackStates+` GROUP BY row)
		WHERE n > 1 GROUP BY k, b`, MaxAttempts, id)
	err = eachRow(rows, err, func(r *sql.Rows) error {
		var n, b, count int
		if err := r.Scan(&n, &b, &count); err != nil {
			return err
		}
		st.Attempts[n] += count
		retried += count
		if b >= 0 {
			st.Acceptance[b] += count
		}
		return nil
	})
	return retried, err
}

// statsInFlight moves the rows claims hold from the state they are stored
// with to InFlight, as Counts does.
func (s *SQLite) statsInFlight(ctx context.Context, id int64, st *Stats) error {
	rows, err := s.db.QueryContext(ctx, `SELECT r.state, COUNT(*) FROM claims AS c
		JOIN recipients AS r ON r.campaign_id = c.campaign_id AND r.row BETWEEN c.first AND c.last
		WHERE c.campaign_id = ? AND `+inClaim("r", "c.due_at")+` GROUP BY r.state`, id)
	return eachRow(rows, err, func(r *sql.Rows) error {
		var state string
		var n int
		if err := r.Scan(&state, &n); err != nil {
			return err
		}
		if f := st.Counts.Field(State(state)); f != nil {
			*f -= n
			st.Counts.InFlight += n
		}
		return nil
	})
}

func eachRow(rows *sql.Rows, err error, fn func(*sql.Rows) error) error {
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Replies totals Minutes by reply, most frequent first.
func (st *Stats) Replies() []TextCountByReply {
	sum := map[ReplyKey]*TextCountByReply{}
	for _, m := range st.Minutes {
		r := sum[m.Reply]
		if r == nil {
			r = &TextCountByReply{ReplyKey: m.Reply, Text: m.Text}
			if t, ok := st.Texts[m.Reply]; ok {
				r.Text, r.TextCount = t.Text, t.Count
			}
			sum[m.Reply] = r
		}
		if r.Text == "" {
			r.Text = m.Text
		}
		r.Count += m.Count
	}
	out := make([]TextCountByReply, 0, len(sum))
	for _, r := range sum {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Code < out[j].Code || out[i].Code == out[j].Code && out[i].Enhanced < out[j].Enhanced
	})
	return out
}

// TextCountByReply is one reply's count with its most common text (for a
// 2xx reply, one of its texts, and TextCount 0).
type TextCountByReply struct {
	ReplyKey
	Count     int
	Text      string
	TextCount int
}
