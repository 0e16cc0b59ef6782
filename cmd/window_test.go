package cmd

import (
	"slices"
	"testing"

	"github.com/mailblast/mailblast/campaign"
)

// TestWindowKeys: the window keys come from the file, the environment and
// --not-before in the usual order; window_days takes a list or a string.
func TestWindowKeys(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	file := writeConfig(t, "window: \"09:00-17:00\"\nwindow_days: [mon, wed-fri]\ntimezone: Europe/Berlin\nnot_before: \"2026-12-03 09:00\"\n")
	f := flagSet()
	addWindowFlag(f)
	if err := f.Parse([]string{"--not-before", "2026-12-04T08:00:00Z"}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MAILBLAST_TIMEZONE_COLUMN", "tz")
	cfg, err := loadConfig(f, file)
	if err != nil {
		t.Fatal(err)
	}
	want := campaign.Window{Hours: "09:00-17:00", Days: []string{"mon", "wed-fri"}, Timezone: "Europe/Berlin",
		NotBefore: "2026-12-04T08:00:00Z", TimezoneColumn: "tz"}
	if w := cfg.Window; w.Hours != want.Hours || !slices.Equal(w.Days, want.Days) || w.Timezone != want.Timezone ||
		w.NotBefore != want.NotBefore || w.TimezoneColumn != want.TimezoneColumn {
		t.Errorf("got %+v, want %+v", w, want)
	}
	t.Setenv("MAILBLAST_WINDOW_DAYS", "mon,wed,fri")
	if cfg, err = loadConfig(flagSet(), file); err != nil || !slices.Equal(cfg.Window.Days, []string{"mon", "wed", "fri"}) {
		t.Errorf("MAILBLAST_WINDOW_DAYS=mon,wed,fri: %v %q", err, cfg.Window.Days)
	}
}

// TestWindowRefusedExits78: each bad key is named, with its flag.
func TestWindowRefusedExits78(t *testing.T) {
	loadErr(t, "window: \"9-5\"\n", "window:")
	loadErr(t, "window_days: [mon-fry]\n", "window_days:")
	loadErr(t, "timezone: Mars/Olympus\n", "timezone:", "Mars/Olympus")
	loadErr(t, "not_before: soon\n", "not_before (--not-before):")
	loadErr(t, "windows: \"09:00-17:00\"\n", "unknown key windows")
}

// TestWindowOnResume: a bare resume keeps the campaign's window; a key
// set today replaces that key alone.
func TestWindowOnResume(t *testing.T) {
	stored := campaign.Settings{Window: campaign.Window{Hours: "09:00-17:00", Days: []string{"mon-fri"}, Timezone: "Europe/Paris"}}
	c := &Config{explicit: map[string]bool{}, Window: campaign.Window{Hours: "10:00-11:00"}}
	if got := c.overlay(stored).Window; got.Hours != "09:00-17:00" || got.Timezone != "Europe/Paris" || len(got.Days) != 1 {
		t.Errorf("bare resume: %+v", got)
	}
	c.explicit["window"] = true
	if got := c.overlay(stored).Window; got.Hours != "10:00-11:00" || got.Timezone != "Europe/Paris" || got.Days[0] != "mon-fri" {
		t.Errorf("window set today: %+v", got)
	}
}
