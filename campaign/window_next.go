package campaign

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/recipients"
	"github.com/mailblast/mailblast/sender"
)

// opening is the first time at or after t when s lets a message go in
// zone loc: t itself when a window is open at t.
func (s *schedule) opening(t time.Time, loc *time.Location) time.Time {
	if t.Before(s.notBefore) {
		t = s.notBefore
	}
	if !s.hours && s.days == everyDay {
		return t
	}
	y, m, d := t.In(loc).Date()
	// From the day before: a window crossing midnight may still be open.
	// Two weeks: a day whose window a DST change swallowed has one a week on.
	for i := -1; i <= 14; i++ {
		open, end, ok := s.span(y, m, d+i, loc)
		switch {
		case !ok || !t.Before(end):
		case t.Before(open):
			return open
		default:
			return t
		}
	}
	return t // not reached: every week has a window (parseDays, parseHours)
}

var everyDay = [7]bool{true, true, true, true, true, true, true}

// span is the window of the day y-m-d in loc (d may be out of range,
// time.Date normalises it), if that day has one. Wall-clock times that a
// DST change skips are taken as time.Date does (02:30 on a spring-forward
// night is 03:30); a window the change leaves empty does not open.
func (s *schedule) span(y int, m time.Month, d int, loc *time.Location) (open, end time.Time, ok bool) {
	if !s.days[time.Date(y, m, d, 12, 0, 0, 0, loc).Weekday()] {
		return open, end, false
	}
	if !s.hours {
		return time.Date(y, m, d, 0, 0, 0, 0, loc), time.Date(y, m, d+1, 0, 0, 0, 0, loc), true
	}
	endDay := d
	if s.end <= s.start { // crosses midnight: closes the next day
		endDay++
	}
	open = time.Date(y, m, d, 0, s.start, 0, 0, loc)
	end = time.Date(y, m, endDay, 0, s.end, 0, 0, loc)
	return open, end, end.After(open)
}

// cell is the row's time zone cell; ok is false when the list has no
// such column. The column is matched as the address column is: exactly,
// else ignoring case and surrounding spaces.
func (s *schedule) cell(fields map[string]string) (string, bool) {
	if v, ok := fields[s.column]; ok {
		return strings.TrimSpace(v), true
	}
	for k, v := range fields {
		if strings.EqualFold(strings.TrimSpace(k), s.column) {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// rowZone is the zone of the row with fields: its own, or the campaign's
// when there is no zone column or the cell is empty.
func (s *schedule) rowZone(fields map[string]string) (*time.Location, error) {
	if s.column == "" {
		return s.loc, nil
	}
	name, ok := s.cell(fields)
	if !ok {
		return nil, errNoZoneColumn
	}
	if name == "" {
		return s.loc, nil
	}
	if loc, ok := s.zones.Load(name); ok {
		return loc.(*time.Location), nil
	}
	loc, err := loadZone(name)
	if err != nil {
		return nil, err
	}
	s.zones.Store(name, loc) // only zones that exist: a few hundred at most
	return loc, nil
}

var errNoZoneColumn = errors.New("the list has no such column (timezone_column)")

// wait is when the row with fields may go, and whether that is later than
// now. A row whose zone cannot be read (prescan refused such a list, so
// only a list changed since) takes the campaign's zone: it waits, it is
// never failed for it.
func (s *schedule) wait(fields map[string]string, now time.Time) (time.Time, bool) {
	loc, err := s.rowZone(fields)
	if err != nil {
		loc = s.loc
	}
	at := s.opening(now, loc)
	return at, at.After(now)
}

// NextOpening is when w next lets mail go at or after now in the
// campaign's own zone (not a row's): now itself inside a window.
func (w Window) NextOpening(now time.Time) (time.Time, error) {
	s, err := w.compile()
	if err != nil {
		return time.Time{}, err
	}
	return s.opening(now, s.loc), nil
}

// windowText is what a row waiting for its window says in the ledger
// (report --state pending).
const windowText = "waiting for its send window"

// heldBack puts j back when its window is not open now: pending (or
// deferred, as it was) with the window's opening as its next attempt, so
// it is due again exactly then and status and the exit code (75) say so.
// A row is never failed or skipped for its window.
func (r *run) heldBack(com *committer, j *job) bool {
	if r.win == nil {
		return false
	}
	at, wait := r.win.wait(j.fields, r.opts.now())
	if !wait {
		return false
	}
	p := r.released(j)
	if p.out.State == ledger.Pending {
		p.out.Text = windowText
	}
	if at.After(p.out.NextAttempt) {
		p.out.NextAttempt = at
	}
	com.outcome(p)
	return true
}

// compileWindow readies the campaign's window, nil when it has none.
// wake looks again at the rows held for a send window or quota room when
// this run's window or quotas are not the ones the campaign stored: held
// rows keep the time they were given, so a window moved earlier (resume
// --not-before now), or a quota raised or removed, would otherwise wait
// for the old one. A new window is stored with the campaign, so the next
// bare resume keeps it (a postponement must not be undone by cron). Rows
// outside the new window, or without room, are held back again.
func (r *run) wake(ctx context.Context) error {
	stored, err := DecodeSettings(r.c)
	if err != nil {
		return err
	}
	win := !stored.Window.same(r.opts.Settings.Window)
	if !win && sameQuotas(stored, r.opts.Settings) {
		return nil
	}
	if win {
		stored.Window = r.opts.Settings.Window
		if err := r.store.SetSettings(ctx, r.c.ID, stored.encode()); err != nil {
			return err
		}
	}
	n, err := r.store.Wake(ctx, r.c.ID, r.opts.now())
	if n > 0 {
		r.logf("the send window or a quota changed: %d waiting recipients are looked at again", n)
	}
	return err
}

// same reports whether two windows are the same settings (no days and an
// empty list of them alike).
func (w Window) same(o Window) bool {
	return w.NotBefore == o.NotBefore && w.Hours == o.Hours && w.Timezone == o.Timezone &&
		w.TimezoneColumn == o.TimezoneColumn && slices.Equal(w.Days, o.Days)
}

// sameQuotas reports whether a and b give every relay the same quota and
// warm-up.
func sameQuotas(a, b Settings) bool {
	same := func(x, y sender.Settings) bool { return x.Quota == y.Quota && reflect.DeepEqual(x.Warmup, y.Warmup) }
	if !same(a.SMTP, b.SMTP) || len(a.Relays) != len(b.Relays) {
		return false
	}
	for i := range a.Relays {
		if !same(a.Relays[i].Settings, b.Relays[i].Settings) {
			return false
		}
	}
	return true
}

func (r *run) compileWindow() error {
	if !r.opts.Settings.Window.Set() {
		return nil
	}
	var err error
	r.win, err = r.opts.Settings.Window.compile()
	return err
}

// checkZone refuses, at import, a row whose time zone cell names no zone
// (or a list without the zone column), as the list's own errors are
// refused: the row and the column, exit 65, nothing written.
func (r *run) checkZone(row recipients.Row) error {
	return r.win.rowError(r.opts.Settings.List, row)
}

// zoneError is checkZone for validate, which reports what send refuses.
func (c *checker) zoneError(row recipients.Row) error {
	if c.win == nil && c.opts.Settings.Window.TimezoneColumn != "" {
		var err error
		if c.win, err = c.opts.Settings.Window.compile(); err != nil {
			return err
		}
	}
	return c.win.rowError(c.opts.Settings.List, row)
}

// rowError is the row's *recipients.Error when its zone is unknown.
func (s *schedule) rowError(list string, row recipients.Row) error {
	if s == nil || s.column == "" {
		return nil
	}
	_, err := s.rowZone(row.Fields)
	switch {
	case errors.Is(err, errNoZoneColumn): // the whole list's problem
		return &recipients.Error{Path: list, Column: s.column, Err: err}
	case err != nil:
		return &recipients.Error{Path: list, Row: row.Num, Column: s.column, Err: err}
	}
	return nil
}
