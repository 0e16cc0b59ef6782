package e2e

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"

	"github.com/mailblast/mailblast/sender/sendertest"
)

// TestMessagesLand sends a campaign with a text and an HTML part, an
// attachment, one-click unsubscribe and an Ed25519 DKIM key, then reads
// what the relay received with go-message and verifies the signature with
// go-msgauth against the public key.
func TestMessagesLand(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 0)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	w.write("dkim.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
	w.write("list.csv", "email,first_name,n\nana@example.org,Ana <script>,1\nbo@example.org,Bö Ünicode,2\n")
	w.write("message.tmpl", "From: News <news@example.com>\nSubject: Hi {{.first_name}} — news #{{.n}}\n\nHello {{.first_name}}, text part.\n")
	w.write("message.html", "<p>Hello {{.first_name}}</p>\n")
	w.write("terms.txt", "terms and conditions\n")
	w.write("mailblast.yaml", `html_template: message.html
attachments: [terms.txt]
unsubscribe:
  url: "https://example.com/u?n={{.n}}"
  mailto: "unsub@example.com"
dkim:
  domain: example.com
  selector: mb
  key_file: dkim.pem
`)
	w.mustRun(0, "send", "list.csv")
	if srv.Count() != 2 {
		t.Fatalf("%d delivered", srv.Count())
	}
	txt := "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	for _, m := range srv.Messages() {
		verifyDKIM(t, m.Data, txt)
		checkStructure(t, m.Data)
	}
}

func verifyDKIM(t *testing.T, data []byte, txt string) {
	t.Helper()
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(data), &dkim.VerifyOptions{
		LookupTXT: func(domain string) ([]string, error) {
			if domain != "mb._domainkey.example.com" {
				t.Errorf("DKIM lookup of %q", domain)
			}
			return []string{txt}, nil
		}})
	if err != nil || len(vs) != 1 || vs[0].Err != nil {
		t.Fatalf("DKIM: %v %+v", err, vs)
	}
	signed := strings.ToLower(strings.Join(vs[0].HeaderKeys, ":"))
	for _, h := range []string{"from", "to", "subject", "date", "message-id", "mime-version", "content-type", "list-unsubscribe", "list-unsubscribe-post"} {
		if !strings.Contains(signed, h) {
			t.Errorf("DKIM does not sign %s (h=%s)", h, signed)
		}
	}
}

func checkStructure(t *testing.T, data []byte) {
	t.Helper()
	for _, line := range bytes.Split(data, []byte("\r\n")) {
		if len(line) > 998 {
			t.Fatalf("line of %d bytes", len(line))
		}
	}
	r, err := mail.CreateReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"From", "To", "Subject", "Date", "Message-Id", "Mime-Version", "List-Unsubscribe", "List-Unsubscribe-Post"} {
		if n := len(r.Header.Values(h)); n != 1 {
			t.Errorf("%s appears %d times", h, n)
		}
	}
	if v := r.Header.Get("List-Unsubscribe-Post"); v != "List-Unsubscribe=One-Click" {
		t.Errorf("List-Unsubscribe-Post %q", v)
	}
	if subj, err := r.Header.Subject(); err != nil || !strings.HasPrefix(subj, "Hi ") {
		t.Errorf("subject %q %v", subj, err)
	}
	var kinds []string
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(p.Body)
		switch h := p.Header.(type) {
		case *mail.InlineHeader:
			ct, _, _ := h.ContentType()
			kinds = append(kinds, ct)
			if ct == "text/html" && bytes.Contains(body, []byte("<script>")) {
				t.Errorf("CSV value not escaped in HTML: %s", body)
			}
		case *mail.AttachmentHeader:
			name, _ := h.Filename()
			kinds = append(kinds, "attachment:"+name)
			if string(body) != "terms and conditions\n" {
				t.Errorf("attachment %q", body)
			}
		}
	}
	if got := strings.Join(kinds, ","); got != "text/plain,text/html,attachment:terms.txt" {
		t.Errorf("parts %s", got)
	}
}

// TestChangedMessageFileRefused: like the template, the HTML part of a
// started campaign may not change under it.
func TestChangedMessageFileRefused(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{
		Rcpt: func(addr string, attempt int) *smtp.SMTPError {
			if addr == "user2@example.com" {
				return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "later"}
			}
			return nil
		}}})
	w := forServer(t, srv, 3)
	w.env = append(w.env, "MAILBLAST_RETRY_WAIT=0s")
	w.write("message.html", "<p>Hello {{.first_name}}</p>\n")
	w.write("mailblast.yaml", "html_template: message.html\n")
	w.mustRun(75, "send", "list.csv")
	w.write("message.html", "<p>Changed {{.first_name}}</p>\n")
	_, stderr, code := w.run("send", "list.csv")
	if code != 65 || !strings.Contains(stderr, "different message file") {
		t.Fatalf("exit %d, stderr %q; want 65 naming the changed file", code, stderr)
	}
	w.write("message.html", "<p>Hello {{.first_name}}</p>\n")
	w.mustRun(75, "send", "list.csv") // restored: the campaign goes on
}
