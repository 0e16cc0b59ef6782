package report

import (
	"time"

	"github.com/mailblast/mailblast/ledger"
)

// Outcomes of an attempt, in the order the charts stack them.
const (
	OutSent = iota
	OutDeferred
	OutBounced // failed with a 5xx reply
	OutFailed  // failed otherwise (no reply, expired)
	nOutcomes
)

// OutcomeNames name the outcomes in legends and tables.
var OutcomeNames = [nOutcomes]string{"sent", "deferred", "bounced (5xx)", "failed (other)"}

func outcome(st ledger.State, code int) int {
	switch {
	case st == ledger.Sent:
		return OutSent
	case st == ledger.Deferred:
		return OutDeferred
	case code >= 500:
		return OutBounced
	}
	return OutFailed
}

// Timeline is the attempts per bucket of time.
type Timeline struct {
	Unit    string // "minute", "hour" or "day"
	Buckets []Bucket
}

// Bucket is one stretch of time's attempts by outcome.
type Bucket struct {
	Start  time.Time
	Counts [nOutcomes]int
}

// Total is every attempt in the bucket.
func (b Bucket) Total() int {
	n := 0
	for _, c := range b.Counts {
		n += c
	}
	return n
}

// newTimeline folds minutes into the finest unit that keeps the chart
// under a few hundred bars, and fills the gaps so time runs evenly.
func newTimeline(ms []ledger.MinuteReplies) Timeline {
	if len(ms) == 0 {
		return Timeline{Unit: "minute"}
	}
	first, last := ms[0].Minute, ms[len(ms)-1].Minute
	unit, step := "minute", time.Minute
	switch span := last.Sub(first); {
	case span > 7*24*time.Hour:
		unit, step = "day", 24*time.Hour
	case span > 3*time.Hour:
		unit, step = "hour", time.Hour
	}
	start := first.Truncate(step)
	n := int(last.Truncate(step).Sub(start)/step) + 1
	t := Timeline{Unit: unit, Buckets: make([]Bucket, n)}
	for i := range t.Buckets {
		t.Buckets[i].Start = start.Add(time.Duration(i) * step)
	}
	for _, m := range ms {
		i := int(m.Minute.Truncate(step).Sub(start) / step)
		t.Buckets[i].Counts[outcome(m.State, m.Reply.Code)] += m.Count
	}
	return t
}

// Totals sums the timeline by outcome.
func (t Timeline) Totals() [nOutcomes]int {
	var out [nOutcomes]int
	for _, b := range t.Buckets {
		for i, c := range b.Counts {
			out[i] += c
		}
	}
	return out
}

// Label is how a bucket's start reads on the axis and in tables.
func (t Timeline) Label(b Bucket) string {
	switch t.Unit {
	case "day":
		return b.Start.Format("2006-01-02")
	case "hour":
		return b.Start.Format("01-02 15:00")
	}
	return b.Start.Format("15:04")
}
