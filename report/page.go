package report

import (
	"fmt"
	"time"

	"github.com/mailblast/mailblast/ledger"
)

// Page is everything one campaign's page shows.
type Page struct {
	Campaign  string
	Generated time.Time
	Finished  bool
	Counts    ledger.Counts
	Rates     []Rate
	Warnings  []string
	Timeline  Timeline
	Domains   []ledger.DomainStats
	Replies   []ledger.TextCountByReply
	Attempts  []Bin
	Accept    []Bin
	Relays    []ledger.RelayStats
	// Href is where the overview links to the page ("" for none).
	Href string
}

// Bin is one bar of a histogram.
type Bin struct {
	Label string
	Count int
}

// Feedback is what arrives after a run (complaints through feedback loops,
// unsubscribes through List-Unsubscribe). Nil in New until the ledger
// records it: the page then says "not recorded yet".
type Feedback struct {
	Complaints, Unsubscribes int
}

// New builds the page of campaign name from its statistics; fb may be nil.
func New(name string, st ledger.Stats, finished bool, fb *Feedback, now time.Time) *Page {
	p := &Page{Campaign: name, Generated: now.UTC(), Finished: finished, Counts: st.Counts,
		Domains: st.Domains, Replies: st.Replies(), Relays: st.Relays}
	p.Rates = rates(st, fb)
	for _, r := range p.Rates {
		if w := r.Warning(); w != "" {
			p.Warnings = append(p.Warnings, w)
		}
	}
	p.Timeline = newTimeline(st.Minutes)
	p.Attempts = attemptBins(st)
	p.Accept = acceptBins(st)
	return p
}

func attemptBins(st ledger.Stats) []Bin {
	var out []Bin
	for n := 1; n <= ledger.MaxAttempts; n++ {
		label := fmt.Sprint(n)
		if n == ledger.MaxAttempts {
			label += "+"
		}
		out = append(out, Bin{label, st.Attempts[n]})
	}
	for len(out) > 3 && out[len(out)-1].Count == 0 {
		out = out[:len(out)-1]
	}
	return out
}

var acceptLabels = [len(ledger.AcceptanceBins)]string{"first attempt", "< 1 min", "< 10 min", "< 1 h", "< 6 h", "< 24 h", "1 day or more"}

func acceptBins(st ledger.Stats) []Bin {
	out := make([]Bin, len(acceptLabels))
	for i, l := range acceptLabels {
		out[i] = Bin{l, st.Acceptance[i]}
	}
	return out
}
