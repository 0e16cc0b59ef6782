package campaign

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/sender"
)

type logReporter struct{ lines []string }

func (l *logReporter) Start(string, int, int)                           {}
func (l *logReporter) Outcome(ledger.State, int, string, *sender.Error) {}
func (l *logReporter) Finish(Summary)                                   {}
func (l *logReporter) Logf(format string, args ...any) {
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

// TestWaitForSaysOnlyLongWaits: rows falling due within moments of each
// other are waited for without a "waiting 0s" line each; a long wait is
// said, and an interrupt ends it.
func TestWaitForSaysOnlyLongWaits(t *testing.T) {
	rep := &logReporter{}
	now := time.Now()
	r := &run{opts: &Options{Reporter: rep, Now: func() time.Time { return now }}}
	for _, d := range []time.Duration{-time.Second, 0, 300 * time.Millisecond} {
		if err := r.waitFor(context.Background(), now.Add(d)); err != nil {
			t.Fatal(err)
		}
	}
	if len(rep.lines) != 0 {
		t.Errorf("short waits logged %q", rep.lines)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.waitFor(ctx, now.Add(time.Minute)); err == nil {
		t.Error("an interrupted wait returned nil")
	}
	if len(rep.lines) != 1 || rep.lines[0] != "waiting 1m1s for the next recipients to fall due (a retry, the send window or quota room)" {
		t.Errorf("long wait logged %q", rep.lines)
	}
}
