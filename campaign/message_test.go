package campaign

import "testing"

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
