package campaign

import (
	"strings"
	"testing"
)

func TestParseAddress(t *testing.T) {
	long := strings.Repeat("a", 63)
	for _, tc := range []struct {
		in, ascii, key string
		utf8           bool
		bad            string // part of the reason when invalid
	}{
		{in: "ann@example.com", ascii: "ann@example.com", key: "ann@example.com"},
		{in: "Ann.Lee+news@Example.COM", ascii: "Ann.Lee+news@Example.COM", key: "ann.lee+news@example.com"},
		{in: "ann@bücher.example", ascii: "ann@xn--bcher-kva.example", key: "ann@xn--bcher-kva.example"},
		{in: "ann@BÜCHER.example", ascii: "ann@xn--bcher-kva.example", key: "ann@xn--bcher-kva.example"},
		{in: "ann@xn--bcher-kva.example", ascii: "ann@xn--bcher-kva.example", key: "ann@xn--bcher-kva.example"},
		{in: "jörg@example.com", ascii: "jörg@example.com", key: "jörg@example.com", utf8: true},
		{in: "JÖRG@example.com", ascii: "JÖRG@example.com", key: "jörg@example.com", utf8: true},
		{in: "jo\u0308rg@example.com", ascii: "jo\u0308rg@example.com", key: "jörg@example.com", utf8: true}, // NFD: same key
		{in: "me@localhost", ascii: "me@localhost", key: "me@localhost"},
		{in: long + "@" + long + "." + long + ".com", ascii: long + "@" + long + "." + long + ".com", key: long + "@" + long + "." + long + ".com"},
		{in: "", bad: "empty"},
		{in: "not-an-address", bad: "no '@' in it"},
		{in: "bob@@example.com", bad: "2 '@' signs"},
		{in: "@example.com", bad: "nothing before the '@'"},
		{in: "bob@", bad: "nothing after the '@'"},
		{in: "bob smith@example.com", bad: "contains a space"},
		{in: "bob..x@example.com", bad: "two dots in a row"},
		{in: "bo;b@example.com", bad: "';' is not allowed"},
		{in: "Ann <ann@example.com>", bad: "not a bare address"},
		{in: "a@b", bad: "no dot"},
		{in: "a@123.456", bad: "all digits"},
		{in: "a@[192.0.2.1]", bad: "literal"},
		{in: "a@x_y.com", bad: "domain"},
		{in: "a@-x.com", bad: "domain"},
		{in: "a@ex..com", bad: "invalid address"},
		{in: strings.Repeat("a", 65) + "@example.com", bad: "local part longer than 64"},
		{in: "a@" + strings.Repeat("b", 64) + ".com", bad: "63"},
		{in: long + "@" + strings.Repeat(long+".", 3) + strings.Repeat("c", 60) + ".com", bad: "253"},
		{in: "a@exa mple.com", bad: "invalid address"},
	} {
		got, err := ParseAddress(tc.in)
		if tc.bad != "" {
			if err == nil || !strings.Contains(err.Error(), tc.bad) || !strings.HasPrefix(err.Error(), "invalid address: ") {
				t.Errorf("ParseAddress(%q) = %+v, %v; want an error about %q", tc.in, got, err, tc.bad)
			}
			continue
		}
		if err != nil || got.ASCII != tc.ascii || got.Key != tc.key || got.UTF8 != tc.utf8 {
			t.Errorf("ParseAddress(%q) = %+v, %v; want %q %q utf8=%v", tc.in, got, err, tc.ascii, tc.key, tc.utf8)
		}
	}
}

func TestLedgerAddress(t *testing.T) {
	if got := ledgerAddress("ann@bücher.example"); got != "ann@xn--bcher-kva.example" {
		t.Errorf("got %q", got)
	}
	if got := ledgerAddress("not valid"); got != "not valid" {
		t.Errorf("got %q", got)
	}
}
