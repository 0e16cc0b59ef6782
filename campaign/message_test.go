package campaign

import (
	"testing"
	"time"

	"github.com/mailblast/mailblast/ledger"
)

// TestMessageIDDomain: a Message-ID is ASCII, so an IDN From domain goes
// into it as punycode rather than failing the row's render.
func TestMessageIDDomain(t *testing.T) {
	for from, want := range map[string]string{
		"news@example.com":        "example.com",
		"news@bücher.example":     "xn--bcher-kva.example",
		"\"a@b\"@one.example.org": "one.example.org",
	} {
		if got := messageIDDomain(from); got != want {
			t.Errorf("messageIDDomain(%q) = %q, want %q", from, got, want)
		}
	}
}

// TestSafeNamesDiffer: names that differ only in characters a file name
// cannot hold still get different lock files.
func TestSafeNamesDiffer(t *testing.T) {
	if a, b := FileName("a/b"), FileName("a_b"); a == b {
		t.Fatalf("a/b and a_b share %q", a)
	}
	if got := FileName("news-2026.12"); got != "news-2026.12" {
		t.Fatalf("a plain name changed: %q", got)
	}
}

// TestMessageIDStable: a Message-ID never changes for the same campaign
// and row, across versions too: a resend after an upgrade must carry the
// one the first attempt had.
func TestMessageIDStable(t *testing.T) {
	c := ledger.Campaign{Name: "april news", CreatedAt: time.UnixMilli(1767225600123)}
	for _, tt := range []struct {
		rec  ledger.Recipient
		want string
	}{
		{ledger.Recipient{Row: 2, Email: "ada@example.com"}, "d8527339c1532e92f948b87f.2@news.example"},
		{ledger.Recipient{Row: 1048576, Email: "zoë@xn--bcher-kva.example"}, "74442d34a12a50f078d202e9.1048576@news.example"},
	} {
		if got := messageID(c, tt.rec, "news.example"); got != tt.want {
			t.Errorf("row %d: %q, want %q", tt.rec.Row, got, tt.want)
		}
	}
}
