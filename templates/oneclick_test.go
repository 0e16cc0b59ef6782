package templates

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailblast/mailblast/feedback"
)

func secretFile(t *testing.T, n int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(strings.Repeat("k", n)), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The signed link names the envelope's campaign and row, verifies with the
// same secret, comes with the one-click Post field, and is the same bytes
// on every render (every attempt of the row).
func TestOneClickSignedLink(t *testing.T) {
	key := secretFile(t, 32)
	tmpl := mustLoad(t, Options{Path: "msg.tmpl", Unsubscribe: Unsubscribe{Mailto: "u@acme.example",
		OneClick: OneClick{BaseURL: "https://acme.example/mb/", SecretFile: key}}})
	env := testEnv
	env.CampaignID, env.Row = 7, 3
	msg, err := tmpl.Render(map[string]string{"name": "Ada"}, env)
	if err != nil {
		t.Fatal(err)
	}
	p := readBack(t, msg, tmpl)
	got := p.header.Get("List-Unsubscribe")
	token, ok := strings.CutPrefix(got, "<https://acme.example/mb/u/")
	token, rest, _ := strings.Cut(token, ">")
	if !ok || rest != ", <mailto:u@acme.example>" {
		t.Fatalf("List-Unsubscribe %q", got)
	}
	secret, _ := os.ReadFile(key)
	if tg, ok := feedback.VerifyToken(secret, feedback.PurposeUnsubscribe, token); !ok || tg != (feedback.Target{CampaignID: 7, Row: 3}) {
		t.Errorf("token %q verifies to %v %v", token, tg, ok)
	}
	if p.header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" || !tmpl.HasHeader("List-Unsubscribe-Post") {
		t.Errorf("no one-click Post field")
	}
	again, _ := tmpl.Render(map[string]string{"name": "Ada"}, env)
	if string(again) != string(msg) {
		t.Errorf("a second render differs")
	}
}

func TestOneClickRefused(t *testing.T) {
	good := secretFile(t, 32)
	tests := []struct {
		name string
		url  string
		oc   OneClick
		want error
	}{
		{"short secret", "", OneClick{"https://acme.example", secretFile(t, 31)}, ErrShortSecret},
		{"missing secret", "", OneClick{"https://acme.example", good + ".none"}, os.ErrNotExist},
		{"no secret file", "", OneClick{"https://acme.example", ""}, ErrBadUnsubscribe},
		{"both URLs", "https://acme.example/x", OneClick{"https://acme.example", good}, ErrBadUnsubscribe},
		{"http elsewhere", "", OneClick{"http://acme.example", good}, ErrBadUnsubscribe},
		{"query", "", OneClick{"https://acme.example/?a=b", good}, ErrBadUnsubscribe},
	}
	dir := fixture(t, defaultFiles())
	for _, tc := range tests {
		opts := inDir(dir, Options{Path: "msg.tmpl", Unsubscribe: Unsubscribe{OneClick: tc.oc}})
		opts.Unsubscribe.URL = tc.url
		if _, err := Load(opts); !errors.Is(err, tc.want) {
			t.Errorf("%s: Load error %v, want %v", tc.name, err, tc.want)
		}
	}
	for _, ok := range []string{"http://127.0.0.1:8025", "http://[::1]/", "https://acme.example/mb"} {
		if err := CheckBaseURL(ok); err != nil {
			t.Errorf("CheckBaseURL(%q): %v", ok, err)
		}
	}
}

// The signed link and its Post field are covered by the DKIM signature,
// and oversigned, like the templated link.
func TestOneClickDKIMSigned(t *testing.T) {
	keys := writeKeys(t)
	tmpl := mustLoad(t, Options{Path: "msg.tmpl", Unsubscribe: Unsubscribe{OneClick: OneClick{BaseURL: "https://acme.example", SecretFile: secretFile(t, 40)}},
		DKIM: &DKIMOptions{Domain: "mail.acme.example", Selector: "mb2025", KeyFile: keys["ed25519"]}})
	env := testEnv
	env.CampaignID, env.Row = 1, 2
	msg, err := tmpl.Render(map[string]string{"name": "Ada"}, env)
	if err != nil {
		t.Fatal(err)
	}
	v := verifyDKIM(t, tmpl, msg)
	for _, k := range []string{"List-Unsubscribe", "List-Unsubscribe-Post"} {
		if n := countFold(v.HeaderKeys, k); n != 2 {
			t.Errorf("h= has %s %d times, want 2: %v", k, n, v.HeaderKeys)
		}
	}
}
