package campaign

import "testing"

func TestPrefixSubject(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"From: a@b.example\nSubject: Hi {{.n}}\n\nbody Subject: x\n", "From: a@b.example\nSubject: [TEST] Hi {{.n}}\n\nbody Subject: x\n"},
		{"subject:Hi\r\nFrom: a@b.example\r\n\r\n", "subject: [TEST] Hi\r\nFrom: a@b.example\r\n\r\n"},
		{"\uFEFFSubject: Hi\n\n", "\uFEFFSubject: [TEST] Hi\n\n"},
		{"From: a@b.example\n\nSubject: in the body\n", "From: a@b.example\n\nSubject: in the body\n"},
		{"X-Subject: no\nSubject:   Hi\n  folded\n\n", "X-Subject: no\nSubject: [TEST] Hi\n  folded\n\n"},
	} {
		if got := string(PrefixSubject([]byte(tc.in), "[TEST] ")); got != tc.want {
			t.Errorf("PrefixSubject(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
