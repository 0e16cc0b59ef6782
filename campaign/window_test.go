package campaign

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mailblast/mailblast/ledger"
)

func mustCompile(t *testing.T, w Window) *schedule {
	t.Helper()
	s, err := w.compile()
	if err != nil {
		t.Fatalf("%+v: %v", w, err)
	}
	return s
}

func at(t *testing.T, loc *time.Location, v string) time.Time {
	t.Helper()
	tm, err := time.ParseInLocation("2006-01-02 15:04", v, loc)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestWindowOpening: the next opening in the campaign's zone, across
// weekends, days lists and windows crossing midnight. 2026-12-04 is a Friday.
func TestWindowOpening(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	for _, c := range []struct {
		w         Window
		now, want string // in Berlin
	}{
		{Window{Hours: "09:00-17:00", Days: []string{"mon-fri"}}, "2026-12-04 10:00", "2026-12-04 10:00"}, // inside
		{Window{Hours: "09:00-17:00", Days: []string{"mon-fri"}}, "2026-12-04 07:59", "2026-12-04 09:00"}, // before
		{Window{Hours: "09:00-17:00", Days: []string{"mon-fri"}}, "2026-12-04 17:00", "2026-12-07 09:00"}, // closes at 17:00: Monday
		{Window{Hours: "09:00-17:00", Days: []string{"mon,wed,fri"}}, "2026-12-07 18:00", "2026-12-09 09:00"},
		{Window{Hours: "09:00-17:00", Days: []string{"mon", "wed"}}, "2026-12-03 12:00", "2026-12-07 09:00"},
		{Window{Hours: "09:00-17:00", Days: []string{"fri-mon"}}, "2026-12-08 12:00", "2026-12-11 09:00"}, // wraps the week
		{Window{Hours: "09:00-24:00"}, "2026-12-04 23:59", "2026-12-04 23:59"},
		{Window{Days: []string{"sat-sun"}}, "2026-12-04 15:00", "2026-12-05 00:00"}, // days alone: whole days
		{Window{Hours: "00:00-24:00", Days: []string{"sat-sun"}}, "2026-12-04 15:00", "2026-12-05 00:00"},
		{Window{Hours: "00:00-24:00", Days: []string{"sat-sun"}}, "2026-12-05 23:59", "2026-12-05 23:59"},
		// A window crossing midnight belongs to the day it opens.
		{Window{Hours: "22:00-06:00", Days: []string{"fri"}}, "2026-12-04 23:00", "2026-12-04 23:00"},
		{Window{Hours: "22:00-06:00", Days: []string{"fri"}}, "2026-12-05 05:59", "2026-12-05 05:59"},
		{Window{Hours: "22:00-06:00", Days: []string{"fri"}}, "2026-12-05 06:00", "2026-12-11 22:00"},
		{Window{Hours: "22:00-06:00", Days: []string{"fri"}}, "2026-12-04 05:00", "2026-12-04 22:00"}, // Thursday's is not allowed
		// not_before first, then the window.
		{Window{Hours: "09:00-17:00", NotBefore: "2026-12-02 20:00"}, "2026-12-01 10:00", "2026-12-03 09:00"},
		{Window{NotBefore: "2026-12-02 20:00"}, "2026-12-01 10:00", "2026-12-02 20:00"},
		{Window{NotBefore: "2026-12-02 20:00"}, "2026-12-03 10:00", "2026-12-03 10:00"},
	} {
		c.w.Timezone = "Europe/Berlin"
		s := mustCompile(t, c.w)
		got := s.opening(at(t, berlin, c.now), s.loc)
		if want := at(t, berlin, c.want); !got.Equal(want) {
			t.Errorf("%+v at %s: opens %s, want %s", c.w, c.now, got.In(berlin).Format(time.DateTime), c.want)
		}
	}
}

// TestWindowDST: 09:00 stays 09:00 on the wall clock across both changes
// of 2026 in Berlin (29 March, 25 October), and a window spanning the
// skipped hour is open for the hours that exist.
func TestWindowDST(t *testing.T) {
	s := mustCompile(t, Window{Hours: "09:00-17:00", Days: []string{"mon-fri"}, Timezone: "Europe/Berlin"})
	for _, c := range []struct{ now, want string }{ // UTC
		{"2026-03-27 17:00", "2026-03-30 07:00"}, // Friday 18:00 CET -> Monday 09:00 CEST
		{"2026-03-20 17:00", "2026-03-23 08:00"}, // a week before: 09:00 CET
		{"2026-10-23 16:00", "2026-10-26 08:00"}, // Friday 18:00 CEST -> Monday 09:00 CET
	} {
		if got := s.opening(at(t, time.UTC, c.now), s.loc); !got.Equal(at(t, time.UTC, c.want)) {
			t.Errorf("from %s UTC: %s, want %s UTC", c.now, got.UTC().Format(time.DateTime), c.want)
		}
	}
	night := mustCompile(t, Window{Hours: "01:00-04:00", Timezone: "Europe/Berlin"})
	for _, c := range []struct{ now, want string }{ // UTC, on the night of 29 March
		{"2026-03-28 23:30", "2026-03-29 00:00"}, // 00:30 CET -> 01:00 CET
		{"2026-03-29 01:30", "2026-03-29 01:30"}, // 03:30 CEST: open
		{"2026-03-29 02:00", "2026-03-29 23:00"}, // 04:00 CEST: closed until 01:00 CEST
	} {
		if got := night.opening(at(t, time.UTC, c.now), night.loc); !got.Equal(at(t, time.UTC, c.want)) {
			t.Errorf("01:00-04:00 from %s UTC: %s, want %s UTC", c.now, got.UTC().Format(time.DateTime), c.want)
		}
	}
}

// TestWindowRowZones: each row's zone decides; an empty cell takes the
// campaign's zone; an unknown one is ErrUnknownZone.
func TestWindowRowZones(t *testing.T) {
	s := mustCompile(t, Window{Hours: "09:00-17:00", Timezone: "Asia/Tokyo", TimezoneColumn: "TZ"})
	now := at(t, time.UTC, "2026-12-04 12:00") // 21:00 in Tokyo, 13:00 in Berlin, 07:00 in New York
	for _, c := range []struct {
		tz   string
		wait bool
		want string // UTC
	}{
		{"Europe/Berlin", false, "2026-12-04 12:00"},
		{" America/New_York ", true, "2026-12-04 14:00"},
		{"", true, "2026-12-05 00:00"}, // Tokyo's 09:00
		{"Etc/GMT-3", false, "2026-12-04 12:00"},
	} {
		got, wait := s.wait(map[string]string{"tz": c.tz}, now) // the column matched ignoring case
		if wait != c.wait || !got.Equal(at(t, time.UTC, c.want)) {
			t.Errorf("zone %q: %s (wait %v), want %s (wait %v)", c.tz, got.UTC().Format(time.DateTime), wait, c.want, c.wait)
		}
	}
	for _, bad := range []string{"Mars/Olympus", "Local", "../../etc/passwd"} {
		if _, err := s.rowZone(map[string]string{"TZ": bad}); !errors.Is(err, ErrUnknownZone) {
			t.Errorf("zone %q: %v, want ErrUnknownZone", bad, err)
		}
	}
	if _, err := s.rowZone(map[string]string{"zone": "UTC"}); !errors.Is(err, errNoZoneColumn) {
		t.Errorf("no column: %v", err)
	}
}

// TestWindowRefused: settings that cannot work are refused naming the key.
func TestWindowRefused(t *testing.T) {
	for _, c := range []struct {
		w   Window
		key string
	}{
		{Window{Hours: "9-17"}, "window:"},
		{Window{Hours: "17:00-17:00"}, "window:"},
		{Window{Hours: "09:00-25:00"}, "window:"},
		{Window{Hours: "24:00-06:00"}, "window:"},
		{Window{Hours: "09:00-17:0"}, "window:"},
		{Window{Days: []string{"moon"}}, "window_days:"},
		{Window{Days: []string{"mo"}}, "window_days:"},
		{Window{Days: []string{""}}, "window_days:"},
		{Window{Timezone: "Mars/Olympus"}, "timezone:"},
		{Window{Timezone: "Local"}, "timezone:"},
		{Window{NotBefore: "tomorrow"}, "not_before:"},
	} {
		if err := c.w.Check(); err == nil || !strings.HasPrefix(err.Error(), c.key) {
			t.Errorf("%+v: %v, want an error starting %q", c.w, err, c.key)
		}
	}
	good := Window{Hours: "22:00-06:00", Days: []string{"Monday-Friday"}, Timezone: "UTC", NotBefore: "2026-12-03T09:00:00+01:00"}
	if err := good.Check(); err != nil {
		t.Errorf("%+v: %v", good, err)
	}
}

// TestHeldBack: a row outside its window goes back as it was, pending or
// deferred (its reply kept), due at the window's opening; a row inside it
// goes on.
func TestHeldBack(t *testing.T) {
	now := at(t, time.UTC, "2026-12-04 18:00") // Friday
	opts := &Options{Now: func() time.Time { return now },
		Settings: Settings{Window: Window{Hours: "09:00-17:00", Days: []string{"mon-fri"}}}}
	r := &run{opts: opts}
	if err := r.compileWindow(); err != nil {
		t.Fatal(err)
	}
	com := &committer{ops: make(chan op, 1)}
	monday := at(t, time.UTC, "2026-12-07 09:00")
	for _, rec := range []ledger.Recipient{
		{Row: 2, State: ledger.Pending},
		{Row: 3, State: ledger.Deferred, NextAttempt: now.Add(-time.Minute), Code: 451, Enhanced: "4.7.1", Text: "greylisted"},
	} {
		if !r.heldBack(com, &job{rec: rec, fields: map[string]string{}}) {
			t.Fatalf("row %d at Friday 18:00 not held", rec.Row)
		}
		o := (<-com.ops).p.out
		if o.State != rec.State || !o.NextAttempt.Equal(monday) || o.Attempted {
			t.Errorf("row %d: %+v, want %s until Monday 09:00", rec.Row, o, rec.State)
		}
		if rec.State == ledger.Deferred && (o.Code != 451 || o.Text != "greylisted") {
			t.Errorf("deferred row lost its reply: %+v", o)
		}
	}
	now = at(t, time.UTC, "2026-12-07 10:00")
	if r.heldBack(com, &job{rec: ledger.Recipient{Row: 4, State: ledger.Pending}}) || len(com.ops) != 0 {
		t.Error("a row inside its window was held")
	}
}

// BenchmarkWindowWait is the cost per row of the window check in the
// renderers, with a zone per row.
func BenchmarkWindowWait(b *testing.B) {
	s, err := Window{Hours: "09:00-17:00", Days: []string{"mon-fri"}, Timezone: "Europe/Berlin", TimezoneColumn: "tz"}.compile()
	if err != nil {
		b.Fatal(err)
	}
	rows := []map[string]string{{"tz": "America/New_York"}, {"tz": "Asia/Tokyo"}, {"tz": ""}, {"tz": "Australia/Sydney"}}
	now := time.Now()
	for i := 0; b.Loop(); i++ {
		s.wait(rows[i%len(rows)], now)
	}
}
