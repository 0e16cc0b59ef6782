package cmd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/mailblast/mailblast/campaign"
	"github.com/mailblast/mailblast/ledger"
)

// addWindowFlag adds --not-before; the other window keys are settings of
// the config file or the environment.
func addWindowFlag(f *pflag.FlagSet) {
	f.String("not-before", "", `send nothing before this time: RFC 3339, or "2026-12-03 09:00" in timezone (UTC unless set)`)
}

// checkWindow validates the send window's keys, naming key and flag.
func (c *Config) checkWindow() []error {
	err := c.Window.Check()
	var se *campaign.SettingError
	if errors.As(err, &se) {
		return []error{fmt.Errorf("%s: %w", keyName(se.Key), se.Err)}
	}
	return nonNil(err)
}

// windowStatus is when a waiting campaign may send next, if it has a
// send window that is shut now. Without a zone per row that is when its
// window opens; with one, the earliest row's opening or retry, which is
// the ledger's next due time.
type windowStatus struct {
	Next   time.Time
	PerRow bool // timezone_column: each row has its own opening
}

// A look-up that fails leaves the note out: the counts are what status
// is for, and the run itself reports a broken setting.
func nextWindow(ctx context.Context, store ledger.Store, c ledger.Campaign, n ledger.Counts) windowStatus {
	s, err := campaign.DecodeSettings(c)
	if err != nil || !s.Window.Set() || n.Pending+n.Deferred == 0 {
		return windowStatus{}
	}
	now := time.Now()
	ws := windowStatus{PerRow: s.Window.TimezoneColumn != ""}
	if ws.PerRow {
		ws.Next, _, err = store.NextDue(ctx, c.ID)
	} else {
		ws.Next, err = s.Window.NextOpening(now)
	}
	if err != nil || !ws.Next.After(now) {
		return windowStatus{}
	}
	return ws
}

// note is status's words for ws, "" when the window is open (or none).
func (ws windowStatus) note() string {
	switch {
	case ws.Next.IsZero():
		return ""
	case ws.PerRow:
		return "; nothing due now: the next row is due " + ws.Next.Format(time.RFC3339) + " (send windows in each row's time zone)"
	}
	return "; outside its send window: it opens " + ws.Next.Format(time.RFC3339)
}

// at is the time for status --json (next_window), nil when open or none.
func (ws windowStatus) at() *time.Time {
	if ws.Next.IsZero() {
		return nil
	}
	return &ws.Next
}
