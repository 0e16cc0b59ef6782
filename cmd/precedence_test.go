package cmd

import (
	"strings"
	"testing"
	"time"

	"github.com/mailblast/mailblast/campaign"
	"github.com/mailblast/mailblast/sender"
)

// TestOverlay: on resume, what this run sets wins and the rest, max_age
// included, comes from what the campaign stored.
func TestOverlay(t *testing.T) {
	stored := campaign.Settings{
		SMTP:  sender.Settings{Host: "old.example", Port: 587, TLS: sender.StartTLS, Connections: 9},
		Retry: campaign.Retry{Schedule: []time.Duration{time.Minute}, MaxAge: time.Hour},
	}
	c := &Config{explicit: map[string]bool{"smtp.tls": true}}
	c.SMTP.TLS = sender.NoTLS
	c.SMTP.Host, c.SMTP.Port, c.SMTP.Connections = "new.example", 25, 4
	c.Retry.Schedule, c.Retry.MaxAge = []time.Duration{5 * time.Minute}, 120*time.Hour
	got := c.overlay(stored)
	if got.SMTP.TLS != sender.NoTLS || got.SMTP.Port != 25 {
		t.Errorf("tls set now: got %v port %d, want none on 25 (that mode's port)", got.SMTP.TLS, got.SMTP.Port)
	}
	if got.SMTP.Host != "old.example" || got.SMTP.Connections != 9 {
		t.Errorf("unset now, so the campaign's: got host %q connections %d", got.SMTP.Host, got.SMTP.Connections)
	}
	if got.Retry.MaxAge != time.Hour || got.Retry.Schedule[0] != time.Minute {
		t.Errorf("retry not read back: %+v", got.Retry)
	}
	c.explicit["retry.max_age"] = true
	if got := c.overlay(stored); got.Retry.MaxAge != 120*time.Hour {
		t.Errorf("retry.max_age set now: got %v", got.Retry.MaxAge)
	}
}

// TestUnknownEnvWarned: a misspelt MAILBLAST_ variable is named, with the
// closest setting; a relay's own password variable and the test switches
// are not.
func TestUnknownEnvWarned(t *testing.T) {
	var b strings.Builder
	c := &Config{}
	c.SMTP.Relays = []RelayConfig{{PasswordEnv: "MAILBLAST_RELAY_PW"}}
	warnUnknownEnv(c, []string{"MAILBLAST_SMTP_CONECTIONS=3", "MAILBLAST_RELAY_PW=x", "MAILBLAST_SMTP_HOST=h",
		"MAILBLAST_REQUIRE_REAL_SERVERS=1", "HOME=/"}, &b)
	if got := b.String(); !strings.Contains(got, "MAILBLAST_SMTP_CONECTIONS is not a setting") ||
		!strings.Contains(got, "did you mean MAILBLAST_SMTP_CONNECTIONS?") || strings.Count(got, "\n") != 1 {
		t.Fatalf("warnings:\n%s", got)
	}
}

// TestOverlayRelays: stored relays stay when today sets neither smtp.relays
// nor smtp.host, but never keep a stored allow_insecure_auth; a host set
// today replaces them.
func TestOverlayRelays(t *testing.T) {
	stored := campaign.Settings{Relays: []campaign.RelaySettings{{Name: "a",
		Settings: sender.Settings{Host: "old.example", Username: "ua", AllowInsecureAuth: true}}}}
	c := &Config{explicit: map[string]bool{}}
	if got := c.overlay(stored); len(got.Relays) != 1 || got.Relays[0].AllowInsecureAuth {
		t.Errorf("relays %+v: want the stored one, without allow_insecure_auth", got.Relays)
	}
	stored.Relays[0].AllowInsecureAuth = true
	c.explicit["smtp.host"] = true
	if got := c.overlay(stored); len(got.Relays) != 0 {
		t.Errorf("relays %+v: smtp.host set today replaces them", got.Relays)
	}
}
