package e2e

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"

	"github.com/mailblast/mailblast/sender/sendertest"
)

// stateSums hashes every file under the state directory: what "the ledger
// is not touched" means, byte for byte.
func stateSums(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	sums := map[string][32]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		sums[p] = sha256.Sum256(b)
		return err
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return sums
}

// TestTestSend: the first row's message goes to --to only, the To header
// stays the row's, the Subject is prefixed, and no ledger is created.
func TestTestSend(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 3)
	out := w.mustRun(0, "test-send", "list.csv", "--to", "me@example.org")
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("relay got %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if len(m.To) != 1 || m.To[0] != "me@example.org" {
		t.Errorf("RCPT TO %v, want only me@example.org", m.To)
	}
	if m.From != "news@example.com" {
		t.Errorf("MAIL FROM %q", m.From)
	}
	if m.Subject != "[TEST] Hello Name1 #1" {
		t.Errorf("Subject %q", m.Subject)
	}
	if !bytes.Contains(m.Data, []byte("\r\nTo: <user1@example.com>\r\n")) || !bytes.Contains(m.Data, []byte("for user1@example.com.")) {
		t.Errorf("the message is not row 2's:\n%s", m.Data)
	}
	if !strings.Contains(out, "row 2") || !strings.Contains(out, "me@example.org") {
		t.Errorf("output %q", out)
	}
	if _, err := os.Stat(filepath.Join(w.dir, "state")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("test-send made the state directory (or a ledger): %v", err)
	}

	w.mustRun(0, "test-send", "list.csv", "--to", "me@example.org", "--row", "4", "--no-prefix")
	m = srv.Messages()[1]
	if m.Subject != "Hello Name3 #3" || !bytes.Contains(m.Data, []byte("To: <user3@example.com>")) {
		t.Errorf("--row 4 --no-prefix: Subject %q\n%s", m.Subject, m.Data)
	}

	// With return_path, bounces of a test go to the bounce mailbox, where
	// they match no row (no token: a test send is no campaign's).
	w.env = append(w.env, "MAILBLAST_RETURN_PATH=bounces@example.com")
	w.mustRun(0, "test-send", "list.csv", "--to", "me@example.org")
	if m = srv.Messages()[2]; m.From != "bounces@example.com" {
		t.Errorf("MAIL FROM %q with return_path set, want bounces@example.com", m.From)
	}

	// A first row send would skip (no valid address) is passed over.
	w.write("list.csv", "email,first_name,n\nnot-an-address,Bad,1\nuser2@example.com,Name2,2\n")
	out = w.mustRun(0, "test-send", "list.csv", "--to", "me@example.org")
	if m = srv.Messages()[3]; m.Subject != "[TEST] Hello Name2 #2" || !strings.Contains(out, "row 3") {
		t.Errorf("default row after a bad row 2: Subject %q, output %q", m.Subject, out)
	}
}

// TestTestSendLeavesLedger: after a real send, a test send changes no byte
// of the state directory and no count.
func TestTestSendLeavesLedger(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 3)
	w.mustRun(0, "send", "list.csv")
	before, counts := stateSums(t, filepath.Join(w.dir, "state")), w.status()
	if len(before) == 0 {
		t.Fatal("send left no ledger")
	}
	w.mustRun(0, "test-send", "list.csv", "--to", "me@example.org")
	after := stateSums(t, filepath.Join(w.dir, "state"))
	if len(after) != len(before) {
		t.Errorf("files %d, were %d", len(after), len(before))
	}
	for p, sum := range before {
		if after[p] != sum {
			t.Errorf("%s changed", p)
		}
	}
	if got := w.status(); got != counts {
		t.Errorf("status %+v, was %+v", got, counts)
	}
	if n := srv.Count(); n != 4 {
		t.Errorf("relay got %d messages, want 3 + 1", n)
	}
}

// TestTestSendRefused: the relay's refusal of the recipient is the
// command's error, with its code: 5xx exits 78 (permanent), 4xx 69.
func TestTestSendRefused(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{
		Rcpt: func(addr string, _ int) *smtp.SMTPError {
			if strings.HasPrefix(addr, "gone@") {
				return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
			}
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "Greylisted"}
		},
	}})
	w := forServer(t, srv, 2)
	_, errs, code := w.run("test-send", "list.csv", "--to", "gone@example.org")
	if code != 78 || !strings.Contains(errs, "550 5.1.1 No such user") {
		t.Errorf("550: exit %d, %q", code, errs)
	}
	_, errs, code = w.run("test-send", "list.csv", "--to", "later@example.org")
	if code != 69 || !strings.Contains(errs, "451 4.7.1 Greylisted") {
		t.Errorf("451: exit %d, %q", code, errs)
	}
	w.mustRun(64, "test-send", "list.csv")
	w.mustRun(64, "test-send", "list.csv", "--to", "not an address")
	w.mustRun(64, "test-send", "list.csv", "--to", "me@example.org", "--row", "9")
	if srv.Count() != 0 {
		t.Errorf("relay accepted %d messages", srv.Count())
	}
}

// TestTestSendSignedOverTLS: STARTTLS with a test certificate and AUTH,
// the password from the environment and never in the output; the
// "[TEST] " prefix is added before signing, so the DKIM signature
// verifies against the published key.
func TestTestSendSignedOverTLS(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{TLS: true, Username: "u", Password: "s3cret-pw"})
	key, p := dkimKey(t, t.TempDir(), "k.pem")
	w := forServer(t, srv, 2)
	w.env = append(w.env, "MAILBLAST_SMTP_TLS=starttls", "SSL_CERT_FILE="+srv.CertFile(),
		"MAILBLAST_SMTP_USERNAME=u", "MAILBLAST_SMTP_PASSWORD=s3cret-pw",
		"MAILBLAST_DKIM_DOMAIN=example.com", "MAILBLAST_DKIM_SELECTOR=mb", "MAILBLAST_DKIM_KEY_FILE="+key)
	out, errs, code := w.run("test-send", "list.csv", "--to", "me@example.org")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	if strings.Contains(out+errs, "s3cret-pw") {
		t.Error("the password is in the output")
	}
	m := srv.Messages()[0]
	if m.Subject != "[TEST] Hello Name1 #1" {
		t.Errorf("Subject %q", m.Subject)
	}
	lookup := func(name string) ([]string, error) {
		if name != "mb._domainkey.example.com" {
			return nil, errors.New("no such record: " + name)
		}
		return []string{"v=DKIM1; k=ed25519; p=" + p}, nil
	}
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(m.Data), &dkim.VerifyOptions{LookupTXT: lookup})
	if err != nil || len(vs) != 1 || vs[0].Err != nil {
		t.Fatalf("DKIM verification: %v %+v\n%s", err, vs, m.Data)
	}
}
