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
