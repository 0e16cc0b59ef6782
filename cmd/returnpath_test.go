package cmd

import (
	"testing"

	"github.com/mailblast/mailblast/campaign"
)

// TestReturnPathValidated: return_path must be a bare ASCII address with
// room for +TOKEN; anything else is exit 78 naming the key.
func TestReturnPathValidated(t *testing.T) {
	for _, v := range []string{`"bounces"`, `"@example.com"`, `"Bounces <b@example.com>"`, `"b@example.com\r\nRCPT TO:<x@y.z>"`,
		`"bounces@"`, `"bøunces@example.com"`,
		`"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.com"`} {
		t.Run(v, func(t *testing.T) { loadErr(t, "return_path: "+v+"\n", "return_path") })
	}
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	cfg, err := loadConfig(flagSet(), writeConfig(t, "return_path: bounces@example.com\n"))
	if err != nil || cfg.ReturnPath != "bounces@example.com" {
		t.Fatalf("a good return_path: %v", err)
	}
}

// TestReturnPathOnResume: a campaign keeps its return_path on a bare
// resume; one set today wins.
func TestReturnPathOnResume(t *testing.T) {
	stored := campaign.Settings{ReturnPath: "old@example.com"}
	c := &Config{explicit: map[string]bool{}}
	if got := c.overlay(stored); got.ReturnPath != "old@example.com" {
		t.Errorf("bare resume: %q", got.ReturnPath)
	}
	c = &Config{ReturnPath: "new@example.com", explicit: map[string]bool{"return_path": true}}
	if got := c.overlay(stored); got.ReturnPath != "new@example.com" {
		t.Errorf("set today: %q", got.ReturnPath)
	}
}
