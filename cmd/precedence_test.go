package cmd

import (
	"testing"
	"time"

	"github.com/mailblast/mailblast/campaign"
	"github.com/mailblast/mailblast/sender"
)

// TestOverlay: on resume, what this run sets wins and the rest, max_age
// included, comes from what the campaign stored.
func TestOverlay(t *testing.T) {
	stored := campaign.Settings{
		SMTP:  campaign.SMTPSettings{Host: "old.example", Port: 587, TLS: sender.StartTLS, Connections: 9},
		Retry: campaign.RetrySettings{Schedule: []time.Duration{time.Minute}, MaxAge: time.Hour},
	}
	c := &Config{explicit: map[string]bool{"smtp.tls": true}, tlsMode: sender.NoTLS}
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
