package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
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
	// Minutes holds every attempt by the minute it was recorded, its
	// outcome and its reply, oldest first.
	Minutes []MinuteReplies
	// Domains are the TopDomains recipient domains with most recipients.
	Domains []DomainStats
	// Texts is, for each non-2xx reply, the relay's most common text.
	Texts map[ReplyKey]TextCount
	// Attempts counts recipients by attempts made (capped at MaxAttempts:
	// that entry counts MaxAttempts or more); Acceptance counts sent
	// recipients by how long after their first attempt the relay took them.
	Attempts   [MaxAttempts + 1]int
	Acceptance [len(AcceptanceBins)]int
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
	Domain                                             string
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

// allAttempts is every attempt of campaign ?1: the log holds all but a
// message sent at its first attempt, which only its recipients row holds.
const allAttempts = `SELECT at, state, code, enhanced, text FROM attempt_log WHERE campaign_id = ?1
	UNION ALL SELECT updated_at, state, code, enhanced, text FROM recipients
	WHERE campaign_id = ?1 AND state = 'sent' AND attempts = 1`

// Stats sums the campaign up in four statements.
func (s *SQLite) Stats(ctx context.Context, campaignID int64) (Stats, error) {
	var st Stats
	var err error
	if st.Counts, err = s.Counts(ctx, campaignID); err != nil {
		return st, err
	}
	for _, step := range []func(context.Context, int64, *Stats) error{s.statsMinutes, s.statsTexts, s.statsDomains, s.statsAttempts} {
		if err := step(ctx, campaignID, &st); err != nil {
			return st, fmt.Errorf("ledger: stats: %w", err)
		}
	}
	return st, nil
}

func (s *SQLite) statsMinutes(ctx context.Context, id int64, st *Stats) error {
	rows, err := s.db.QueryContext(ctx, `SELECT at / 60000 AS m, state, code, enhanced, COUNT(*), MAX(text)
		FROM (`+allAttempts+`) GROUP BY m, state, code, enhanced ORDER BY m`, id)
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

// statsTexts finds each non-2xx reply's most common text; a 2xx text
// carries a queue ID, so counting those would group every message apart.
func (s *SQLite) statsTexts(ctx context.Context, id int64, st *Stats) error {
	st.Texts = map[ReplyKey]TextCount{}
	rows, err := s.db.QueryContext(ctx, `SELECT code, enhanced, text, COUNT(*) FROM attempt_log
		WHERE campaign_id = ? AND NOT code BETWEEN 200 AND 299 GROUP BY code, enhanced, text`, id)
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

func (s *SQLite) statsDomains(ctx context.Context, id int64, st *Stats) error {
	rows, err := s.db.QueryContext(ctx, `SELECT lower(substr(email, instr(email, '@') + 1)) AS d, COUNT(*),
		SUM(state = 'sent'), SUM(state = 'deferred'), SUM(state = 'failed' AND code >= 500),
		SUM(state = 'failed' AND code < 500), SUM(state = 'skipped')
		FROM recipients WHERE campaign_id = ? GROUP BY d ORDER BY COUNT(*) DESC, d LIMIT ?`, id, TopDomains)
	return eachRow(rows, err, func(r *sql.Rows) error {
		var d DomainStats
		if err := r.Scan(&d.Domain, &d.Total, &d.Sent, &d.Deferred, &d.Bounced, &d.Failed, &d.Skipped); err != nil {
			return err
		}
		st.Domains = append(st.Domains, d)
		return nil
	})
}

// statsAttempts fills the attempts and acceptance histograms and the
// attempted and hard-bounced totals in one pass.
func (s *SQLite) statsAttempts(ctx context.Context, id int64, st *Stats) error {
	bins := "CASE WHEN state <> 'sent' THEN -1 WHEN attempts <= 1 THEN 0"
	for i, b := range AcceptanceBins[1 : len(AcceptanceBins)-1] {
		bins += fmt.Sprintf(" WHEN updated_at - first_try < %d THEN %d", b.Milliseconds(), i+1)
	}
	bins += fmt.Sprintf(" ELSE %d END", len(AcceptanceBins)-1)
	rows, err := s.db.QueryContext(ctx, `SELECT MIN(attempts, ?) AS n, `+bins+` AS b, COUNT(*),
		SUM(state = 'failed' AND code >= 500) FROM recipients WHERE campaign_id = ? GROUP BY n, b`, MaxAttempts, id)
	return eachRow(rows, err, func(r *sql.Rows) error {
		var n, b, count, bounced int
		if err := r.Scan(&n, &b, &count, &bounced); err != nil {
			return err
		}
		st.Attempts[n] += count
		if n > 0 {
			st.Attempted += count
		}
		if b >= 0 {
			st.Acceptance[b] += count
		}
		st.HardBounced += bounced
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
