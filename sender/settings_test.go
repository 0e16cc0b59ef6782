package sender

import (
	"encoding/json"
	"testing"
)

// Campaigns store their settings as JSON in the ledger; a rate is stored
// as a number per second, and ledgers written before Rate had its own
// type must still read back.
func TestSettingsStoredRoundTrip(t *testing.T) {
	s := DefaultSettings()
	s.Rate, s.TLS, s.Pipelining = 12.5, NoTLS, Off
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Settings
	if err := json.Unmarshal(b, &back); err != nil || back != s {
		t.Fatalf("%s read back as %+v, %v", b, back, err)
	}
	var old Settings
	if err := json.Unmarshal([]byte(`{"host":"h","port":25,"tls":"none","rate":0.5}`), &old); err != nil || old.Rate != 0.5 {
		t.Fatalf("an older ledger's settings: %+v, %v", old, err)
	}
	if err := json.Unmarshal([]byte(`{"rate":"3000/m"}`), &old); err != nil || old.Rate != 50 {
		t.Fatalf(`"3000/m": %v, %v`, old.Rate, err)
	}
	if err := json.Unmarshal([]byte(`{"rate":"fast"}`), &old); err == nil {
		t.Fatal(`"fast" was accepted`)
	}
}
