package campaign

import (
	"strings"
	"testing"

	"github.com/mailblast/mailblast/feedback"
)

// TestVERPAddress: the token goes after the last '+' of the local part and
// verifies back to its row; local+TOKEN stays within 64 octets for the
// longest local part return_path allows (33), up to 2 million campaigns
// and 268 million rows.
func TestVERPAddress(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	target := feedback.Target{CampaignID: 1<<21 - 1, Row: 1<<28 - 1} // the bounds maxReturnLocal allows for
	tok := feedback.SignToken(key, feedback.PurposeVERP, target)
	got := verpAddress("bounces+list@example.com", tok)
	if got != "bounces+list+"+tok+"@example.com" {
		t.Fatalf("verpAddress: %s", got)
	}
	local := got[:strings.LastIndexByte(got, '@')]
	back, ok := feedback.VerifyToken(key, feedback.PurposeVERP, strings.ToUpper(local[strings.LastIndexByte(local, '+')+1:]))
	if !ok || back != target {
		t.Fatalf("token %s verifies to %+v %v", tok, back, ok)
	}
	if n := len(strings.Repeat("a", 33)) + 1 + len(tok); n > 64 {
		t.Errorf("local part of %d octets", n)
	}
}
