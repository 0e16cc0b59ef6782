package campaign

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	// The zone database is built in: a row's zone must mean the same on a
	// server without tzdata (a scratch container, Windows) as on a laptop.
	_ "time/tzdata"
)

// Window is when a campaign's messages may go: not before a time, and
// only within daily hours on some days of the week, in the campaign's time
// zone or in each row's own. The zero Window sends at any time. Its tags
// are its configuration keys (top level) and its stored names; it holds
// the settings as written and is checked by Check.
type Window struct {
	// NotBefore is RFC 3339, or a local date and time ("2026-12-03 09:00")
	// read in Timezone.
	NotBefore string `json:"not_before,omitempty" mapstructure:"not_before"`
	// Hours is "09:00-17:00"; an end before the start crosses midnight
	// ("22:00-06:00" is 22:00 until 06:00 the next morning).
	Hours string `json:"window,omitempty" mapstructure:"window"`
	// Days are the days a window may open: "mon-fri", "mon,wed,fri", or a
	// list of either. A window crossing midnight belongs to the day it
	// opens. None: every day.
	Days []string `json:"window_days,omitempty" mapstructure:"window_days"`
	// Timezone is the campaign's IANA zone; "" is UTC, so that a stored
	// campaign means the same on whatever machine resumes it.
	Timezone string `json:"timezone,omitempty" mapstructure:"timezone"`
	// TimezoneColumn names the list column with each row's IANA zone; an
	// empty cell takes Timezone.
	TimezoneColumn string `json:"timezone_column,omitempty" mapstructure:"timezone_column"`
}

// ErrUnknownZone is a time zone name the zone database does not have.
var ErrUnknownZone = errors.New("unknown time zone")

// SettingError is a setting of a Window that cannot work, by its key.
type SettingError struct {
	Key string // not_before, window, window_days or timezone
	Err error
}

func (e *SettingError) Error() string { return e.Key + ": " + e.Err.Error() }
func (e *SettingError) Unwrap() error { return e.Err }

// Set reports whether w restricts sending at all.
func (w Window) Set() bool {
	return w.NotBefore != "" || w.Hours != "" || len(w.Days) > 0 || w.TimezoneColumn != ""
}

// schedule is a compiled Window. It is safe for concurrent use: the
// renderers ask it about rows side by side.
type schedule struct {
	notBefore  time.Time
	hours      bool
	start, end int // minutes after midnight; end may be 1440 (24:00)
	days       [7]bool
	loc        *time.Location
	column     string
	zones      sync.Map // zone name -> *time.Location, for rows' zones
}

// Check reports the first setting of w that cannot work, naming its key.
func (w Window) Check() error {
	_, err := w.compile()
	return err
}

// compile checks w and returns its schedule; each error names its key.
func (w Window) compile() (*schedule, error) {
	s := &schedule{column: strings.TrimSpace(w.TimezoneColumn)}
	var err error
	if s.loc, err = loadZone(w.Timezone); err != nil {
		return nil, &SettingError{"timezone", err}
	}
	if w.Hours != "" {
		if s.start, s.end, err = parseHours(w.Hours); err != nil {
			return nil, &SettingError{"window", err}
		}
		s.hours = s.start != 0 || s.end != 24*60 // 00:00-24:00 is the whole day

	}
	if s.days, err = parseDays(w.Days); err != nil {
		return nil, &SettingError{"window_days", err}
	}
	if w.NotBefore != "" {
		if s.notBefore, err = parseNotBefore(w.NotBefore, s.loc); err != nil {
			return nil, &SettingError{"not_before", err}
		}
	}
	return s, nil
}

// loadZone loads an IANA zone by name; "" is UTC. "Local" is refused:
// it means whatever machine runs the campaign, which is no zone at all.
func loadZone(name string) (*time.Location, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return time.UTC, nil
	}
	if name == "Local" {
		return nil, fmt.Errorf("%w %q: give an IANA name such as Europe/Berlin", ErrUnknownZone, name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%w %q: give an IANA name such as Europe/Berlin or America/New_York", ErrUnknownZone, name)
	}
	return loc, nil
}

// parseHours reads "HH:MM-HH:MM".
func parseHours(v string) (start, end int, err error) {
	a, b, ok := strings.Cut(strings.TrimSpace(v), "-")
	if !ok {
		return 0, 0, fmt.Errorf("%q: write the hours as HH:MM-HH:MM, e.g. 09:00-17:00", v)
	}
	if start, err = parseClock(a, false); err == nil {
		end, err = parseClock(b, true)
	}
	switch {
	case err != nil:
		return 0, 0, fmt.Errorf("%q: %w", v, err)
	case start == end:
		return 0, 0, fmt.Errorf("%q opens and closes at the same time: leave window unset to send at any hour", v)
	}
	return start, end, nil
}

// parseClock reads "HH:MM" as minutes after midnight; 24:00 only as an end.
func parseClock(v string, isEnd bool) (int, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(v), ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	switch {
	case !ok || err1 != nil || err2 != nil || len(m) != 2 || len(h) == 0 || len(h) > 2:
		return 0, fmt.Errorf("%q is not a time of day (HH:MM)", v)
	case isEnd && hh == 24 && mm == 0:
		return 24 * 60, nil
	case hh < 0 || hh > 23 || mm < 0 || mm > 59:
		return 0, fmt.Errorf("%q is not a time of day (00:00 to 23:59, or 24:00 as an end)", v)
	}
	return hh*60 + mm, nil
}

var dayNames = [7]string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}

// parseDays reads entries like "mon-fri" and "mon,wed,fri"; none is
// every day. A range may wrap round the week ("fri-mon").
func parseDays(list []string) ([7]bool, error) {
	var days [7]bool
	if len(list) == 0 {
		return [7]bool{true, true, true, true, true, true, true}, nil
	}
	for _, entry := range list {
		for _, part := range strings.Split(entry, ",") {
			if err := addDays(&days, strings.TrimSpace(part)); err != nil {
				return days, err
			}
		}
	}
	return days, nil
}

func addDays(days *[7]bool, part string) error {
	a, b, isRange := strings.Cut(part, "-")
	from, err := parseDay(a)
	if err != nil {
		return err
	}
	to := from
	if isRange {
		if to, err = parseDay(b); err != nil {
			return err
		}
	}
	for d := from; ; d = (d + 1) % 7 {
		days[d] = true
		if d == to {
			return nil
		}
	}
}

// parseDay takes a day's name or its first three letters or more.
func parseDay(v string) (int, error) {
	v = strings.ToLower(strings.TrimSpace(v))
	for i, name := range dayNames {
		if len(v) >= 3 && strings.HasPrefix(name, v) {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%q is not a day: use mon, tue, wed, thu, fri, sat, sun, ranges like mon-fri, or lists like mon,wed,fri", v)
}

// notBeforeLayouts are the local forms --not-before takes besides RFC 3339.
var notBeforeLayouts = []string{"2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02"}

func parseNotBefore(v string, loc *time.Location) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "now" { // resume --not-before now: send what the window allows, at once
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	for _, layout := range notBeforeLayouts {
		if t, err := time.ParseInLocation(layout, v, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q: use RFC 3339 (2026-12-03T09:00:00+01:00), a local time in the campaign's timezone (2026-12-03 09:00), or now", v)
}
