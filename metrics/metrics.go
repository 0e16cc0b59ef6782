package metrics

import (
	"context"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mailblast/mailblast/campaign"
	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/sender"
)

// File is the metrics of one invocation of send or resume.
type File struct {
	path    string
	reg     *prometheus.Registry
	started time.Time

	recipients, start, end, exit, duration, running *prometheus.GaugeVec
	messages, replies                               *prometheus.CounterVec
	relays                                          relayVecs

	mu      sync.Mutex // serialises writes of the file
	lastErr error
}

// New starts the metrics of a run that writes to path.
func New(path string, now time.Time) *File {
	f := &File{path: path, reg: prometheus.NewRegistry(), started: now}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
		f.reg.MustRegister(g)
		return g
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		f.reg.MustRegister(c)
		return c
	}
	f.recipients = gauge("mailblast_recipients", "Recipients of the campaign by state, as the run left them.", "campaign", "state")
	f.messages = counter("mailblast_messages_total", "Outcomes recorded during this run, by result.", "campaign", "result")
	f.replies = counter("mailblast_smtp_replies_total", "Relay replies during this run: the enhanced code, or the code's class (2xx, 4xx, 5xx; none when no reply was read).", "campaign", "code")
	f.start = gauge("mailblast_last_run_start_timestamp_seconds", "When the last send or resume started.")
	f.end = gauge("mailblast_last_run_end_timestamp_seconds", "When the last send or resume ended.")
	f.exit = gauge("mailblast_last_run_exit_code", "The last send or resume's exit status (0 done, 75 deferred recipients wait).")
	f.duration = gauge("mailblast_last_run_duration_seconds", "How long the last send or resume took.")
	f.running = gauge("mailblast_run_in_progress", "1 while a send or resume is running, 0 once it ended.")
	f.relays = relayVecs{
		throttles: counter("mailblast_throttle_events_total", "Throttling replies (421, 454, 4.7.x, 450 4.2.1) each relay gave during this run, retried ones included.", "relay"),
		conns:     gauge("mailblast_relay_connections", "Connections each relay may use, as last seen: the configured number, halved while the relay throttles.", "relay"),
		messages:  counter("mailblast_relay_messages_total", "Attempts each relay carried during this run, by result.", "relay", "result"),
	}
	f.start.WithLabelValues().Set(unixSeconds(now))
	f.running.WithLabelValues().Set(1)
	return f
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

// Write writes the file now, atomically.
func (f *File) Write() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := prometheus.WriteToTextfile(f.path, f.reg); err != nil {
		return fmt.Errorf("metrics file: %w", err)
	}
	return nil
}

// Loop writes the file every interval until ctx ends. A failed write is
// kept for Finish to return: a run does not stop for its metrics.
func (f *File) Loop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := f.Write(); err != nil {
				f.mu.Lock()
				f.lastErr = err
				f.mu.Unlock()
			}
		}
	}
}

// Finish records how the run ended and writes the file a last time.
func (f *File) Finish(exitCode int, now time.Time) error {
	f.end.WithLabelValues().Set(unixSeconds(now))
	f.duration.WithLabelValues().Set(now.Sub(f.started).Seconds())
	f.exit.WithLabelValues().Set(float64(exitCode))
	f.running.WithLabelValues().Set(0)
	return f.Write()
}

// Reporter wraps next so the file hears what the run does.
func (f *File) Reporter(next campaign.Reporter) campaign.Reporter {
	return &reporter{next: next, f: f}
}

type reporter struct {
	next     campaign.Reporter
	f        *File
	campaign string
}

func (r *reporter) Start(name string, total, done int) {
	r.campaign = name
	r.next.Start(name, total, done)
}

func (r *reporter) Outcome(state ledger.State, row int, email string, err *sender.Error) {
	r.f.messages.WithLabelValues(r.campaign, string(state)).Inc()
	if state != ledger.Pending && state != ledger.Skipped {
		r.f.replies.WithLabelValues(r.campaign, ReplyLabel(state, err)).Inc()
	}
	r.next.Outcome(state, row, email, err)
}

func (r *reporter) Logf(format string, args ...any) { r.next.Logf(format, args...) }

func (r *reporter) Finish(s campaign.Summary) {
	c := s.Counts
	for state, n := range map[string]int{"pending": c.Pending, "inflight": c.InFlight, "sent": c.Sent,
		"deferred": c.Deferred, "failed": c.Failed, "skipped": c.Skipped} {
		r.f.recipients.WithLabelValues(s.Campaign, state).Set(float64(n))
	}
	r.next.Finish(s)
}

// enhanced is an RFC 3463 code of the shape relays use: class, a subject
// of one digit and a detail of at most two. Anything else a relay sends is
// counted by its class, so a relay cannot make the labels grow unbounded.
var enhanced = regexp.MustCompile(`^[245]\.[0-7]\.[0-9]{1,2}$`)

// ReplyLabel is the code label of an outcome: its enhanced code, or its
// class.
func ReplyLabel(state ledger.State, err *sender.Error) string {
	switch {
	case err == nil && state == ledger.Sent:
		return "2xx"
	case err == nil || err.Code == 0:
		return "none"
	case enhanced.MatchString(err.Enhanced):
		return err.Enhanced
	case err.Code >= 200 && err.Code < 600:
		return fmt.Sprintf("%dxx", err.Code/100)
	}
	return "none"
}

// Err is the last periodic write's error, if any.
func (f *File) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastErr
}
