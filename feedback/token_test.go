package feedback

import (
	"strings"
	"testing"
)

func TestTokenRoundTripAndForgery(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	want := Target{CampaignID: 7, Row: 123456}
	tok := SignToken(key, PurposeVERP, want)
	if len("bounces+"+tok) > 64 {
		t.Fatalf("local part too long: %d", len("bounces+"+tok))
	}
	if got, ok := VerifyToken(key, PurposeVERP, strings.ToUpper(tok)); !ok || got != want {
		t.Fatalf("VerifyToken(upper-cased) = %v, %v; want %v", got, ok, want)
	}
	if _, ok := VerifyToken(key, PurposeUnsubscribe, tok); ok {
		t.Fatal("a VERP token was accepted as an unsubscribe token")
	}
	if _, ok := VerifyToken([]byte("another key"), PurposeVERP, tok); ok {
		t.Fatal("a token was accepted under another key")
	}
	other := SignToken(key, PurposeVERP, Target{CampaignID: 7, Row: 123457})
	forged := other[:len(other)-16] + tok[len(tok)-16:]
	if _, ok := VerifyToken(key, PurposeVERP, forged); ok {
		t.Fatal("a token with another row's MAC was accepted")
	}
	// The last character's spare bits: the same bytes, another spelling.
	last := tok[len(tok)-1]
	for _, c := range "abcdefghijklmnopqrstuvwxyz234567" {
		if byte(c) == last {
			continue
		}
		alt := tok[:len(tok)-1] + string(c)
		if got, ok := VerifyToken(key, PurposeVERP, alt); ok {
			t.Fatalf("altered token %q accepted as %v", alt, got)
		}
	}
	for _, bad := range []string{"", "!!", tok[:5], tok + "a"} {
		if _, ok := VerifyToken(key, PurposeVERP, bad); ok {
			t.Fatalf("VerifyToken(%q) accepted", bad)
		}
	}
}
