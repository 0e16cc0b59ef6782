// Package progress is the one place that decides what a running campaign
// shows: a progress bar on a terminal, a plain line every few seconds
// without one (cron), and a one-line summary at the end.
package progress

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/mailblast/mailblast/campaign"
	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/sender"
)

// Mode picks the display.
type Mode string

// Modes: a bar, periodic plain lines, or only the summary.
const (
	Bar   Mode = "bar"
	Plain Mode = "plain"
	Quiet Mode = "quiet"
)

// Reporter implements campaign.Reporter. Its methods are safe for
// concurrent use: a mutex guards the counters and the writer.
type Reporter struct {
	mu       sync.Mutex
	w        io.Writer
	mode     Mode
	every    time.Duration
	bar      *progressbar.ProgressBar
	name     string
	total    int
	done     int
	counts   map[ledger.State]int
	started  time.Time
	lastLine time.Time
}

var _ campaign.Reporter = (*Reporter)(nil)

// New writes to w (stderr in practice) in mode, with a plain line at most
// every interval.
func New(w io.Writer, mode Mode, every time.Duration) *Reporter {
	return &Reporter{w: w, mode: mode, every: every, counts: map[ledger.State]int{}}
}

// Start begins a campaign's display: total rows, done of them already final.
func (r *Reporter) Start(name string, total, done int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.name, r.total, r.done, r.started, r.lastLine = name, total, done, time.Now(), time.Now()
	clear(r.counts)
	if r.mode == Bar {
		r.bar = newBar(r.w, name, total, done)
	}
}

// newBar counts this run's work only: a bar set to the rows an earlier run
// finished would show them as done in no time (millions of msg/s) and
// predict nonsense. The rows done before are named in the description.
func newBar(w io.Writer, name string, total, done int) *progressbar.ProgressBar {
	desc := name
	if done > 0 {
		desc = fmt.Sprintf("%s (%d of %d done before)", name, done, total)
	}
	return progressbar.NewOptions(max(total-done, 0),
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("msg"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}

// Outcome counts one committed outcome.
func (r *Reporter) Outcome(state ledger.State, row int, email string, err *sender.Error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts[state]++
	if state.Final() {
		r.done++
		if r.bar != nil {
			_ = r.bar.Add(1) // a terminal write: nothing more can be done
		}
	}
	if r.mode == Plain && time.Since(r.lastLine) >= r.every {
		r.lastLine = time.Now()
		fmt.Fprintf(r.w, "%s %s\n", time.Now().Format(time.RFC3339), r.line())
	}
}

func (r *Reporter) line() string {
	secs := time.Since(r.started).Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(r.counts[ledger.Sent]) / secs
	}
	return fmt.Sprintf("campaign %s: %d/%d done; this run: sent %d, deferred %d, failed %d, skipped %d; %.0f msg/s",
		r.name, r.done, r.total, r.counts[ledger.Sent], r.counts[ledger.Deferred], r.counts[ledger.Failed], r.counts[ledger.Skipped], rate)
}

// Logf prints a message above the bar.
func (r *Reporter) Logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bar != nil {
		_ = r.bar.Clear() // a terminal write: nothing more can be done
	}
	fmt.Fprintf(r.w, "mailblast: "+format+"\n", args...)
}

// Finish clears the bar and prints the summary line.
func (r *Reporter) Finish(s campaign.Summary) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bar != nil {
		_ = r.bar.Finish() // a terminal write: nothing more can be done
		r.bar = nil
	}
	fmt.Fprintln(r.w, summaryLine(s))
}

// summaryLine is the one line a run ends with.
func summaryLine(s campaign.Summary) string {
	c := s.Counts
	// The ledger's counts, as status gives them: rows an abandoned
	// message left in flight are not pending.
	line := fmt.Sprintf("campaign %s: %d recipients: %d sent, %d deferred, %d failed, %d skipped, %d pending",
		s.Campaign, c.Total, c.Sent, c.Deferred, c.Failed, c.Skipped, c.Pending)
	if c.InFlight > 0 {
		line += fmt.Sprintf(", %d in flight", c.InFlight)
	}
	if s.Recovered > 0 {
		line += fmt.Sprintf("; %d were in flight at an earlier interruption", s.Recovered)
	}
	if s.Elapsed > 0 {
		line += fmt.Sprintf(" (%s)", s.Elapsed.Round(time.Millisecond))
	}
	return line
}
