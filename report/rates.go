package report

import (
	"fmt"
	"strings"

	"github.com/mailblast/mailblast/ledger"
)

// Rate is one share of the recipients, beside the published thresholds
// that apply to it. Recorded is false while the ledger holds nothing to
// compute it from.
type Rate struct {
	Name       string
	Num, Den   int
	Recorded   bool
	Of         string // what Den counts, in words
	Thresholds []Threshold
}

// Threshold is a level a mailbox provider publishes. A rate above it
// gets a warning.
type Threshold struct {
	Value  float64 // a fraction: 0.003 is 0.3%
	Label  string
	Advice string
}

// The thresholds mailbox providers publish.
var (
	gmailSpamCeiling = Threshold{0.003, "Gmail's 0.3% spam-rate ceiling",
		"Gmail may reject or spam-folder this sender's mail: stop and find out why people mark it as spam"}
	gmailSpamAdvice = Threshold{0.001, "Gmail's recommended 0.1%",
		"keep it under 0.1% as Gmail recommends"}
	bounceWarning = Threshold{0.02, "the usual 2% bounce-rate warning",
		"clean the list (remove or confirm old addresses) before the next campaign"}
)

func rates(st ledger.Stats, fb *Feedback) []Rate {
	of := "recipients attempted"
	// Those who complained or unsubscribed were delivered to; a late
	// bounce was not.
	delivered := st.Counts.Sent + st.Counts.Complained + st.Counts.Unsubscribed
	out := []Rate{
		{Name: "Delivery rate", Num: delivered, Den: st.Attempted, Recorded: true, Of: of},
		// At send time (5xx) or later (a DSN with a 5.x.x status).
		{Name: "Hard-bounce rate", Num: st.HardBounced + st.LateHardBounced, Den: st.Attempted, Recorded: true, Of: of,
			Thresholds: []Threshold{bounceWarning}},
		{Name: "Complaint rate", Den: delivered, Of: "recipients delivered",
			Thresholds: []Threshold{gmailSpamCeiling, gmailSpamAdvice}},
		{Name: "Unsubscribe rate", Den: delivered, Of: "recipients delivered"},
	}
	if fb != nil {
		out[2].Num, out[2].Recorded = fb.Complaints, true
		out[3].Num, out[3].Recorded = fb.Unsubscribes, true
	}
	return out
}

// Value is the rate as a fraction, 0 with no denominator.
func (r Rate) Value() float64 {
	if r.Den == 0 {
		return 0
	}
	return float64(r.Num) / float64(r.Den)
}

// Percent is the rate for people: "0.42%".
func (r Rate) Percent() string {
	if !r.Recorded {
		return "not recorded yet"
	}
	if r.Den == 0 {
		return "n/a"
	}
	return percent(r.Value())
}

func percent(v float64) string {
	s := fmt.Sprintf("%.2f", v*100)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s + "%"
}

// Over is the highest threshold the rate exceeds, if any.
func (r Rate) Over() (Threshold, bool) {
	var worst Threshold
	found := false
	if !r.Recorded || r.Den == 0 {
		return worst, false
	}
	for _, t := range r.Thresholds {
		if r.Value() > t.Value && (!found || t.Value > worst.Value) {
			worst, found = t, true
		}
	}
	return worst, found
}

// Status is "over …" or "under …" for each threshold, in words.
func (r Rate) Status() string {
	if len(r.Thresholds) == 0 {
		return "no published threshold"
	}
	if !r.Recorded {
		return "thresholds: " + r.thresholdList()
	}
	if t, ok := r.Over(); ok {
		return "OVER " + t.Label
	}
	return "under " + r.thresholdList()
}

func (r Rate) thresholdList() string {
	var labels []string
	for _, t := range r.Thresholds {
		labels = append(labels, t.Label)
	}
	return strings.Join(labels, " and ")
}

// Warning is a sentence for the top of the page, "" when under every
// threshold.
func (r Rate) Warning() string {
	t, ok := r.Over()
	if !ok {
		return ""
	}
	return fmt.Sprintf("%s is %s (%s of %s %s), over %s: %s.", r.Name, r.Percent(), Group(r.Num), Group(r.Den), r.Of, t.Label, t.Advice)
}

// IsOver reports whether the rate exceeds any of its thresholds.
func (r Rate) IsOver() bool { _, ok := r.Over(); return ok }
