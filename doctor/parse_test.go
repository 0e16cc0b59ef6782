package doctor

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSPFRecords(t *testing.T) {
	got := SPFRecords([]string{"v=spf1 -all", "google-site-verification=x", "V=SPF1 mx ~all", "v=spf10 -all", "v=spf1"})
	if len(got) != 3 {
		t.Fatalf("SPFRecords = %q, want 3 records", got)
	}
}

func TestParseSPF(t *testing.T) {
	for _, tc := range []struct {
		rec     string
		all     string
		syntax  bool
		lookups int
	}{
		{"v=spf1 include:_spf.example.net -all", "-", false, 1},
		{"v=spf1 mx a/24 ip4:192.0.2.0/24 ip6:2001:db8::/32 ~all", "~", false, 2},
		{"v=spf1 +all", "+", false, 0},
		{"v=spf1 all", "+", false, 0},
		{"v=spf1 ?all", "?", false, 0},
		{"v=spf1 mx", "", false, 1},
		{"v=spf1 redirect=_spf.example.net", "", false, 1},
		{"v=spf1 ip4:192.0.2.300 -all", "", true, 0},
		{"v=spf1 ip4:2001:db8::1 -all", "", true, 0},
		{"v=spf1 include: -all", "", true, 0},
		{"v=spf1 inclde:example.net -all", "", true, 0},
		{"v=spf1 -all:x", "", true, 0},
		{"v=spf1 a a a a a a a a a a a -all", "-", true, 11},
	} {
		spf, err := ParseSPF(tc.rec)
		if tc.syntax != errors.Is(err, ErrSPFSyntax) {
			t.Errorf("%q: err %v, want syntax error %v", tc.rec, err, tc.syntax)
			continue
		}
		if !tc.syntax && (spf.All != tc.all || spf.Lookups != tc.lookups) {
			t.Errorf("%q: all %q lookups %d, want %q %d", tc.rec, spf.All, spf.Lookups, tc.all, tc.lookups)
		}
	}
}

func TestJudgeSPF(t *testing.T) {
	for rec, want := range map[string]Status{
		"v=spf1 -all": OK, "v=spf1 mx ~all": OK, "v=spf1 +all": Fail, "v=spf1 mx all": Fail,
		"v=spf1 mx": Warn, "v=spf1 bogus -all": Fail,
	} {
		if got := judgeSPF("example.com", rec).Status; got != want {
			t.Errorf("%q: %s, want %s", rec, got, want)
		}
	}
}

func TestParseDMARC(t *testing.T) {
	d, err := ParseDMARC("v=DMARC1; p=Quarantine; rua=mailto:d@example.com; adkim=s")
	if err != nil || d.Policy != "quarantine" || d.ADKIM != "s" || d.ASPF != "r" || d.RUA != "mailto:d@example.com" {
		t.Errorf("got %+v, %v", d, err)
	}
	for _, bad := range []string{"v=DMARC1", "v=DMARC1; p=block", "v=DMARC1; p=none; adkim=x", "v=DMARC1; p"} {
		if _, err := ParseDMARC(bad); !errors.Is(err, ErrDMARCSyntax) {
			t.Errorf("%q: %v, want a syntax error", bad, err)
		}
	}
	if got := DMARCRecords([]string{"v=DMARC1; p=none", "v=spf1 -all", "v=DMARC1;p=reject"}); len(got) != 2 {
		t.Errorf("DMARCRecords = %q", got)
	}
}

func TestAlign(t *testing.T) {
	for _, tc := range []struct {
		from, other string
		want        Alignment
	}{
		{"example.com", "example.com", Strict},
		{"example.com", "Example.COM.", Strict},
		{"news.example.com", "example.com", Relaxed},
		{"example.com", "bounce.example.com", Relaxed},
		{"example.com", "example.net", Unaligned},
		{"example.com", "", Unaligned},
		// The Public Suffix List, as signing uses it: co.uk is a suffix.
		{"news.example.co.uk", "example.co.uk", Relaxed},
		{"example.co.uk", "other.co.uk", Unaligned},
	} {
		if got := Align(tc.from, tc.other); got != tc.want {
			t.Errorf("Align(%q, %q) = %d, want %d", tc.from, tc.other, got, tc.want)
		}
	}
	if Relaxed.Passes("s") || !Relaxed.Passes("r") || !Strict.Passes("s") || Unaligned.Passes("r") {
		t.Error("Passes")
	}
}

// writeKey writes a PEM private key file and returns its path.
func writeKey(t *testing.T, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDKIMKeyComparison(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	otherRSA, _ := rsa.GenerateKey(rand.Reader, 1024)
	edPub, edKey, _ := ed25519.GenerateKey(rand.Reader)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(edKey)
	rsaFile := writeKey(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey))
	edFile := writeKey(t, "PRIVATE KEY", pkcs8)
	spki := func(k *rsa.PrivateKey) string {
		der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
		return base64.StdEncoding.EncodeToString(der)
	}
	b64 := base64.StdEncoding.EncodeToString
	for _, tc := range []struct {
		name, file, record string
		same               bool
		recErr             bool
	}{
		{"rsa spki", rsaFile, "v=DKIM1; k=rsa; p=" + spki(rsaKey), true, false},
		{"rsa spki split by spaces", rsaFile, "v=DKIM1; p=" + spki(rsaKey)[:40] + " " + spki(rsaKey)[40:], true, false},
		{"rsa pkcs1", rsaFile, "v=DKIM1; k=rsa; p=" + b64(x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey)), true, false},
		{"rsa other key", rsaFile, "v=DKIM1; k=rsa; p=" + spki(otherRSA), false, false},
		{"ed25519", edFile, "v=DKIM1; k=ed25519; p=" + b64(edPub), true, false},
		{"ed25519 vs rsa record", edFile, "v=DKIM1; k=rsa; p=" + spki(rsaKey), false, false},
		{"revoked", rsaFile, "v=DKIM1; k=rsa; p=", false, true},
		{"not base64", rsaFile, "v=DKIM1; p=!!!", false, true},
		{"short ed25519", edFile, "v=DKIM1; k=ed25519; p=" + b64(edPub[:16]), false, true},
	} {
		mine, err := KeyFromFile(tc.file)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		theirs, err := ParseDKIMKey(tc.record)
		if tc.recErr != errors.Is(err, ErrDKIMRecord) {
			t.Errorf("%s: record error %v, want %v", tc.name, err, tc.recErr)
			continue
		}
		if err == nil && SameKey(theirs, mine) != tc.same {
			t.Errorf("%s: SameKey = %v, want %v", tc.name, !tc.same, tc.same)
		}
		want := Fail
		if tc.same {
			want = OK
		}
		if got := judgeDKIM("s._domainkey.example.com", []string{tc.record}, mine).Status; got != want {
			t.Errorf("%s: judgeDKIM %s, want %s", tc.name, got, want)
		}
	}
}
