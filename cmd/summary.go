package cmd

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mailblast/mailblast/campaign"
	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/progress"
	"github.com/mailblast/mailblast/sender"
)

// summaryReporter adds, below the one line a run ends with, a short
// account in words when the run shows a progress bar (a person watching
// a terminal): rates, the commonest reasons for deferring and failing,
// and what to do next. Plain and quiet output (cron) stay one line.
func summaryReporter(w io.Writer, cfg *Config, r campaign.Reporter) campaign.Reporter {
	if !showsBar(w, cfg) {
		return r
	}
	return &endSummary{next: r, w: w, reasons: map[string]int{}}
}

// showsBar is newReporter's choice of a bar.
func showsBar(w io.Writer, cfg *Config) bool {
	if cfg.Progress == "auto" || cfg.Progress == "" {
		return isTerminal(w)
	}
	return progress.Mode(cfg.Progress) == progress.Bar
}

type endSummary struct {
	next campaign.Reporter
	w    io.Writer

	mu      sync.Mutex // Outcome is called from the committer
	reasons map[string]int
	sent    int
	bounced int
}

func (e *endSummary) Start(name string, total, done int) { e.next.Start(name, total, done) }
func (e *endSummary) Logf(format string, args ...any)    { e.next.Logf(format, args...) }

func (e *endSummary) Outcome(state ledger.State, row int, email string, err *sender.Error) {
	e.mu.Lock()
	if state == ledger.Sent {
		e.sent++
	}
	if err != nil && (state == ledger.Deferred || state == ledger.Failed) {
		e.reasons[reason(err)]++
		if state == ledger.Failed && err.Code >= 500 {
			e.bounced++
		}
	}
	e.mu.Unlock()
	e.next.Outcome(state, row, email, err)
}

// reason is an error as a person reads it, cut to one short line.
func reason(err *sender.Error) string {
	s := strings.TrimSpace(strings.Join(strings.Fields(err.Message), " "))
	if err.Code != 0 && !strings.Contains(s, fmt.Sprint(err.Code)) {
		s = strings.TrimSpace(fmt.Sprintf("%d %s %s", err.Code, err.Enhanced, s))
	}
	if len(s) > 90 {
		s = s[:87] + "..."
	}
	return s
}

func (e *endSummary) Finish(s campaign.Summary) {
	e.next.Finish(s)
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, line := range endLines(s, e.reasons, e.sent, e.bounced, time.Now()) {
		fmt.Fprintln(e.w, "  "+line)
	}
}

// endLines is the account of a run in words.
func endLines(s campaign.Summary, reasons map[string]int, sent, bounced int, now time.Time) []string {
	c := s.Counts
	var out []string
	if tried := c.Sent + c.Failed + c.Deferred; tried > 0 {
		out = append(out, fmt.Sprintf("delivered %s of the %d recipients tried; this run: %d sent, %d bounced (5xx)",
			pct(c.Sent, tried), tried, sent, bounced))
	}
	if top := topReasons(reasons, 3); len(top) > 0 {
		out = append(out, "most common reasons this run:")
		out = append(out, top...)
	}
	return append(out, nextSteps(s, now)...)
}

func pct(n, d int) string { return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(d)) }

func topReasons(reasons map[string]int, n int) []string {
	keys := make([]string, 0, len(reasons))
	for k := range reasons {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if reasons[keys[i]] != reasons[keys[j]] {
			return reasons[keys[i]] > reasons[keys[j]]
		}
		return keys[i] < keys[j]
	})
	var out []string
	for _, k := range keys[:min(n, len(keys))] {
		out = append(out, fmt.Sprintf("  %6d  %s", reasons[k], k))
	}
	return out
}

func nextSteps(s campaign.Summary, now time.Time) []string {
	c := s.Counts
	var out []string
	if left := c.Deferred + c.Pending + c.InFlight; left > 0 {
		when := "now"
		if s.NextDue.After(now) {
			when = "after " + s.NextDue.Local().Format("15:04")
			if s.NextDue.Sub(now) > 20*time.Hour {
				when = "after " + s.NextDue.Local().Format("Jan 2 15:04")
			}
		}
		out = append(out, fmt.Sprintf("next: %d not final yet: mailblast resume %s, or let cron do it", left, when))
	}
	if c.Failed > 0 {
		out = append(out, fmt.Sprintf("next: %d failed: mailblast report --campaign %s --state failed lists them", c.Failed, s.Campaign))
	}
	return out
}
