package templates

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

// Keys are generated once per test binary: RSA-2048 takes a while.
var testKeys = sync.OnceValues(func() (*rsa.PrivateKey, ed25519.PrivateKey) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	_, ek, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return rk, ek
})

// writeKeys writes the test keys as PEM files and returns their paths:
// "rsa" (PKCS#1), "rsa-pkcs8", "ed25519" (PKCS#8), and files Load must
// refuse: "public", "encrypted", "ecdsa".
func writeKeys(t testing.TB) map[string]string {
	t.Helper()
	rk, ek := testKeys()
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	blocks := map[string]*pem.Block{
		"rsa":       {Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)},
		"rsa-pkcs8": {Type: "PRIVATE KEY", Bytes: pkcs8(rk)},
		"ed25519":   {Type: "PRIVATE KEY", Bytes: pkcs8(ek)},
		"public":    {Type: "PUBLIC KEY", Bytes: pub},
		"encrypted": {Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte("not really")},
		"ecdsa":     {Type: "PRIVATE KEY", Bytes: pkcs8(ec)},
	}
	dir := t.TempDir()
	paths := make(map[string]string)
	for name, b := range blocks {
		paths[name] = filepath.Join(dir, name+".pem")
		if err := os.WriteFile(paths[name], pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return paths
}

// verifyDKIM checks msg's one signature against the record of tmpl and
// returns it.
func verifyDKIM(t testing.TB, tmpl *Template, msg []byte) *dkim.Verification {
	t.Helper()
	name, record := tmpl.DKIMRecord()
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{
		LookupTXT: func(domain string) ([]string, error) {
			if domain != name {
				return nil, fmt.Errorf("no TXT record for %s", domain)
			}
			return []string{record}, nil
		},
	})
	if err != nil {
		t.Fatalf("dkim.Verify: %v", err)
	}
	if len(vs) != 1 {
		t.Fatalf("%d signatures, want 1", len(vs))
	}
	if vs[0].Err != nil {
		t.Fatalf("signature does not verify: %v\n%s", vs[0].Err, msg)
	}
	return vs[0]
}

func TestDKIM(t *testing.T) {
	keys := writeKeys(t)
	unsub := Unsubscribe{URL: "https://acme.example/u/{{.name}}", Mailto: "u@acme.example"}
	for _, key := range []string{"rsa", "rsa-pkcs8", "ed25519"} {
		for _, layout := range []struct {
			name string
			opts Options
		}{
			{"text", Options{Path: "msg.tmpl"}},
			{"multipart", Options{Path: "msg.tmpl", HTMLPath: "body.html", Inline: map[string]string{"logo@acme.example": "logo.png"},
				Attachments: []string{"terms.pdf"}}},
		} {
			t.Run(key+"/"+layout.name, func(t *testing.T) {
				opts := layout.opts
				opts.Unsubscribe = unsub
				opts.FeedbackID = "april:news:acme"
				opts.Headers = map[string]string{"Reply-To": "help@acme.example"}
				opts.DKIM = &DKIMOptions{Domain: "mail.acme.example", Selector: "mb2025", KeyFile: keys[key]}
				tmpl := mustLoad(t, opts)
				msg, err := tmpl.Render(map[string]string{"name": "Ada"}, testEnv)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.HasPrefix(msg, []byte("DKIM-Signature: ")) {
					t.Errorf("message does not start with DKIM-Signature:\n%.200s", msg)
				}
				readTree(t, msg)
				if n := topFields(t, msg)["Dkim-Signature"]; n != 1 {
					t.Errorf("%d DKIM-Signature fields", n)
				}
				v := verifyDKIM(t, tmpl, msg)
				if v.Domain != "mail.acme.example" {
					t.Errorf("d=%s", v.Domain)
				}
				for _, k := range []string{"From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type",
					"List-Unsubscribe", "List-Unsubscribe-Post", "Feedback-ID", "Reply-To"} {
					if n := countFold(v.HeaderKeys, k); n != 2 {
						t.Errorf("h= has %s %d times, want 2 (signed and oversigned): %v", k, n, v.HeaderKeys)
					}
				}
				if countFold(v.HeaderKeys, "Cc") != 0 {
					t.Errorf("h= signs Cc, which the template cannot write")
				}
				if !tmpl.HasHeader("DKIM-Signature") {
					t.Errorf("HasHeader(DKIM-Signature) = false")
				}

				// Any change to a signed field or the body breaks it.
				for _, change := range [][2]string{
					{"Subject: Hello Ada", "Subject: Hello Bob"},
					{"\r\nFrom: ", "\r\nFrom: x@evil.example\r\nFrom: "},
					{"List-Unsubscribe: <", "List-Unsubscribe: <https://evil.example>\r\nList-Unsubscribe: <"},
					{"plain text.", "plain texT."},
				} {
					bad := bytes.Replace(msg, []byte(change[0]), []byte(change[1]), 1)
					if bytes.Equal(bad, msg) {
						t.Fatalf("%q not in the message", change[0])
					}
					vs, _ := dkim.VerifyWithOptions(bytes.NewReader(bad), &dkim.VerifyOptions{LookupTXT: func(string) ([]string, error) {
						_, r := tmpl.DKIMRecord()
						return []string{r}, nil
					}})
					if len(vs) != 1 || vs[0].Err == nil {
						t.Errorf("signature still verifies after %q", change[1])
					}
				}
			})
		}
	}
}

func countFold(list []string, s string) int {
	n := 0
	for _, x := range list {
		if strings.EqualFold(x, s) {
			n++
		}
	}
	return n
}

func TestDKIMRecord(t *testing.T) {
	keys := writeKeys(t)
	tmpl := mustLoad(t, Options{Path: "msg.tmpl", DKIM: &DKIMOptions{Domain: "acme.example", Selector: "s1", KeyFile: keys["ed25519"]}})
	name, rec := tmpl.DKIMRecord()
	if name != "s1._domainkey.acme.example" || !strings.HasPrefix(rec, "v=DKIM1; k=ed25519; p=") {
		t.Errorf("DKIMRecord() = %q, %q", name, rec)
	}
	tmpl = mustLoad(t, Options{Path: "msg.tmpl", DKIM: &DKIMOptions{Domain: "acme.example", Selector: "s1", KeyFile: keys["rsa"]}})
	if _, rec := tmpl.DKIMRecord(); !strings.HasPrefix(rec, "v=DKIM1; k=rsa; p=MIIB") {
		t.Errorf("RSA record %q", rec)
	}
	if name, rec := mustLoad(t, Options{Path: "msg.tmpl"}).DKIMRecord(); name != "" || rec != "" {
		t.Errorf("unsigned: %q, %q", name, rec)
	}
}

// A templated From is checked against d= for each message: relaxed
// alignment, by organizational domain.
func TestDKIMAlignment(t *testing.T) {
	keys := writeKeys(t)
	dir := fixture(t, map[string]string{"m.tmpl": "From: News <news@{{.domain}}>\nSubject: s\n\nx\n"})
	tmpl, err := Load(Options{Path: filepath.Join(dir, "m.tmpl"), DKIM: &DKIMOptions{Domain: "acme.co.uk", Selector: "s", KeyFile: keys["ed25519"]}})
	if err != nil {
		t.Fatal(err)
	}
	for domain, ok := range map[string]bool{
		"acme.co.uk":       true,
		"mail.acme.co.uk":  true,
		"ACME.CO.UK":       true,
		"other.co.uk":      false,
		"co.uk":            false,
		"acme.co.uk.evil":  false,
		"acme.example":     false,
		"news.acme.com.au": false,
	} {
		msg, err := tmpl.Render(map[string]string{"domain": domain}, testEnv)
		var fe *FieldError
		switch {
		case ok && err != nil:
			t.Errorf("%s: %v", domain, err)
		case ok:
			verifyDKIM(t, tmpl, msg)
		case !errors.As(err, &fe) || fe.Header != "From" || !errors.Is(err, ErrDKIMAlignment):
			t.Errorf("%s: err = %v, want a From FieldError wrapping ErrDKIMAlignment", domain, err)
		}
	}
}

// Messages signed by many goroutines at once all verify (run with -race).
func TestDKIMConcurrent(t *testing.T) {
	keys := writeKeys(t)
	tmpl := mustLoad(t, Options{Path: "msg.tmpl", HTMLPath: "body.html", DKIM: &DKIMOptions{Domain: "acme.example", Selector: "s", KeyFile: keys["ed25519"]}})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				env := testEnv
				env.MessageID = fmt.Sprintf("%d.%d@acme.example", g, i)
				msg, err := tmpl.Render(map[string]string{"name": env.MessageID}, env)
				if err != nil {
					t.Error(err)
					return
				}
				verifyDKIM(t, tmpl, msg)
			}
		})
	}
	wg.Wait()
}

func TestSignedHeaderKeys(t *testing.T) {
	keys := writeKeys(t)
	tmpl := mustLoad(t, Options{Path: "msg.tmpl", DKIM: &DKIMOptions{Domain: "acme.example", Selector: "s", KeyFile: keys["ed25519"]}})
	got := tmpl.signer.opts.HeaderKeys
	want := []string{"From", "From", "To", "To", "Subject", "Subject", "Date", "Date", "Message-ID", "Message-ID",
		"MIME-Version", "MIME-Version", "Content-Type", "Content-Type", "Content-Transfer-Encoding", "Content-Transfer-Encoding"}
	if !slices.Equal(got, want) {
		t.Errorf("h=%v\nwant %v", got, want)
	}
}
