package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"time"
)

//go:embed page.html.tmpl
var pageTemplate string

var tmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"f1":      func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"pct":     share,
	"outcome": func(i int) string { return OutcomeNames[i] },
	"when":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"num":     Group,
}).Parse(pageTemplate))

func share(n, d int) string {
	if d == 0 {
		return "–"
	}
	return percent(float64(n) / float64(d))
}

// WritePage writes the campaign's page.
func WritePage(w io.Writer, p *Page) error {
	return tmpl.ExecuteTemplate(w, "page", p)
}

// Index is the overview of several campaigns.
type Index struct {
	Generated time.Time
	Pages     []*Page
}

// WriteIndex writes the overview, one row per campaign.
func WriteIndex(w io.Writer, x Index) error {
	return tmpl.ExecuteTemplate(w, "index", x)
}

// OutcomeNames as a slice, for the template.
func (p *Page) OutcomeNames() []string { return OutcomeNames[:] }

// TimelineChart is the attempts over time by outcome.
func (p *Page) TimelineChart() Chart {
	var labels []string
	var values [][]int
	for _, b := range p.Timeline.Buckets {
		labels = append(labels, p.Timeline.Label(b))
		values = append(values, append([]int(nil), b.Counts[:]...))
	}
	desc := fmt.Sprintf("Stacked columns, one per %s (UTC): how many attempts ended sent, deferred, bounced with a 5xx reply, or failed otherwise. The table below holds the same figures.", p.Timeline.Unit)
	return Columns("timeline", "Attempts per "+p.Timeline.Unit+" by outcome", desc, labels, values, OutcomeNames[:], 320)
}

// DomainChart is the top domains' recipients by where they stand.
func (p *Page) DomainChart() Chart {
	var labels []string
	var values [][]int
	for _, d := range p.Domains {
		labels = append(labels, d.Domain)
		values = append(values, []int{d.Sent, d.Deferred, d.Bounced, d.Failed})
	}
	desc := "Stacked bars, one per recipient domain (the domains with most recipients): recipients sent, deferred, bounced and failed, with the total at the end of each bar. The table below holds the same figures."
	return Rows("domains", "Recipients by domain (top 20)", desc, labels, values, OutcomeNames[:])
}

// RelayChart is the attempts each relay carried, by outcome.
func (p *Page) RelayChart() Chart {
	var labels []string
	var values [][]int
	for _, r := range p.Relays {
		labels = append(labels, r.Relay)
		values = append(values, []int{r.Sent, r.Deferred, r.Bounced, r.Failed})
	}
	desc := "Stacked bars, one per relay: the attempts it carried that ended sent, deferred, bounced with a 5xx reply, or failed otherwise, with the total at the end of each bar. The table below holds the same figures, with each relay's throttling replies and rate."
	return Rows("relays", "Attempts by relay", desc, labels, values, OutcomeNames[:])
}

// AttemptsChart is the recipients by attempts made.
func (p *Page) AttemptsChart() Chart {
	return binChart("attempts", "Recipients by attempts made",
		"Columns: how many recipients needed 1, 2, 3 or more attempts, with the count above each column.", p.Attempts)
}

// AcceptChart is the sent recipients by time from first attempt to acceptance.
func (p *Page) AcceptChart() Chart {
	return binChart("acceptance", "Time from first attempt to acceptance",
		"Columns: how many sent recipients the relay accepted at the first attempt, or how long after it, with the count above each column.", p.Accept)
}

func binChart(id, title, desc string, bins []Bin) Chart {
	var labels []string
	var values [][]int
	for _, b := range bins {
		labels = append(labels, b.Label)
		values = append(values, []int{b.Count})
	}
	return Columns(id, title, desc, labels, values, nil, 240)
}

// Rate returns the rate named name, for the overview's columns.
func (p *Page) Rate(name string) Rate {
	for _, r := range p.Rates {
		if r.Name == name {
			return r
		}
	}
	return Rate{Name: name}
}

// Attempted is the denominator of the delivery and hard-bounce rates.
func (p *Page) Attempted() int { return p.Rate("Delivery rate").Den }

// Group writes n with a comma between groups of three digits: 985,000.
func Group(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + Group(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
