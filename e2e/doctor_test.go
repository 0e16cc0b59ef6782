package e2e

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"

	"github.com/mailblast/mailblast/sender/sendertest"
)

// zone is a test DNS zone: name (lower case, with the final dot) to
// records.
type zone map[string][]dns.RR

func (z zone) add(t *testing.T, records ...string) {
	t.Helper()
	for _, s := range records {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatalf("zone record %q: %v", s, err)
		}
		name := strings.ToLower(rr.Header().Name)
		z[name] = append(z[name], rr)
	}
}

// ServeDNS answers from the zone; a name it lacks is NXDOMAIN. Names
// starting "tcp-only" are answered over UDP with an empty truncated
// answer, as a server does when the records do not fit: the client must
// ask again over TCP.
func (z zone) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	q := req.Question[0]
	if strings.HasPrefix(q.Name, "tcp-only") && w.LocalAddr().Network() == "udp" {
		m.Truncated = true
		_ = w.WriteMsg(m)
		return
	}
	rrs, known := z[strings.ToLower(q.Name)]
	if !known {
		m.Rcode = dns.RcodeNameError
	}
	for _, rr := range rrs {
		if rr.Header().Rrtype == q.Qtype {
			m.Answer = append(m.Answer, rr)
		}
	}
	_ = w.WriteMsg(m)
}

// startDNS serves z on 127.0.0.1, UDP and TCP on one random port, and
// returns "127.0.0.1:PORT".
func startDNS(t *testing.T, z zone) string {
	t.Helper()
	for try := 0; try < 20; try++ {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := pc.LocalAddr().String()
		ln, err := net.Listen("tcp", addr)
		if err != nil { // the port is taken for TCP: another one
			pc.Close()
			continue
		}
		for _, s := range []*dns.Server{{PacketConn: pc, Handler: z}, {Listener: ln, Handler: z}} {
			started := make(chan struct{})
			s.NotifyStartedFunc = func() { close(started) }
			go func() { _ = s.ActivateAndServe() }()
			<-started
			t.Cleanup(func() { _ = s.Shutdown() })
		}
		return addr
	}
	t.Fatal("no port free for UDP and TCP")
	return ""
}

// dkimKey makes an Ed25519 key file in dir and returns its path and the
// p= value of its record.
func dkimKey(t *testing.T, dir, name string) (string, string) {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, base64.StdEncoding.EncodeToString(pub)
}

// testZone serves good.example, whose records pass every check, and
// bad.example (SPF +all, a DKIM record of another key, no DMARC) and
// two.example (two SPF records). It returns the DNS server and the key
// files that sign for good.example and bad.example.
func testZone(t *testing.T) (server, goodKey, badKey string) {
	dir := t.TempDir()
	goodKey, goodP := dkimKey(t, dir, "good.pem")
	badKey, _ = dkimKey(t, dir, "bad.pem")
	_, otherP := dkimKey(t, dir, "other.pem")
	z := zone{}
	z.add(t,
		`good.example. 300 IN TXT "v=spf1 ip4:127.0.0.1 -all"`,
		`good.example. 300 IN TXT "google-site-verification=abc"`,
		`tcp-only._domainkey.good.example. 300 IN TXT "v=DKIM1; k=ed25519; p=`+goodP+`"`,
		`_dmarc.good.example. 300 IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@good.example"`,
		`bounce.good.example. 300 IN MX 10 mx.good.example.`,
		`bounce.good.example. 300 IN TXT "v=spf1 ip4:127.0.0.1 ~all"`,
		`mx.good.example. 300 IN A 127.0.0.1`,
		`bad.example. 300 IN TXT "v=spf1 +all"`,
		`mb._domainkey.bad.example. 300 IN TXT "v=DKIM1; k=ed25519; p=`+otherP+`"`,
		`two.example. 300 IN TXT "v=spf1 -all"`,
		`two.example. 300 IN TXT "v=spf1 mx -all"`,
		`_dmarc.two.example. 300 IN TXT "v=DMARC1; p=none"`,
	)
	return startDNS(t, z), goodKey, badKey
}

// relayCert is a certificate for 127.0.0.1 valid for 90 days, and its
// PEM file (a CA of its own).
func relayCert(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: "doctor test relay"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(90 * 24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "relay-ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, path
}

// fullRelay is a go-smtp relay with STARTTLS (a 90-day certificate), DSN
// and SMTPUTF8: what sendertest, whose certificate lasts a week, does not
// offer. It accepts everything and keeps nothing.
type fullRelay struct{}

func (fullRelay) NewSession(*smtp.Conn) (smtp.Session, error) { return fullRelay{}, nil }
func (fullRelay) Mail(string, *smtp.MailOptions) error        { return nil }
func (fullRelay) Rcpt(string, *smtp.RcptOptions) error        { return nil }
func (fullRelay) Data(r io.Reader) error                      { _, err := io.Copy(io.Discard, r); return err }
func (fullRelay) Reset()                                      {}
func (fullRelay) Logout() error                               { return nil }

// startFullRelay returns the relay's port and its CA file.
func startFullRelay(t *testing.T, maxBytes int64) (int, string) {
	t.Helper()
	cert, caFile := relayCert(t)
	s := smtp.NewServer(fullRelay{})
	s.Domain, s.MaxMessageBytes = "localhost", maxBytes
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	s.EnableDSN, s.EnableSMTPUTF8 = true, true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		if err := s.Serve(ln); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			t.Logf("full relay: %v", err)
		}
	}()
	t.Cleanup(func() { s.Close() })
	return ln.Addr().(*net.TCPAddr).Port, caFile
}

// doctorWorkspace is a workspace whose template is From news@DOMAIN,
// signed with key for DOMAIN, with one-click unsubscribe. good.example's
// selector is answered over TCP only.
func doctorWorkspace(t *testing.T, port int, domain, key string, extra ...string) *workspace {
	w := newWorkspace(t, "127.0.0.1", port, 3)
	w.write("message.tmpl", "From: News <news@"+domain+">\nSubject: Hello {{.first_name}}\n\nHi {{.first_name}}\n")
	selector := "mb"
	if domain == "good.example" {
		selector = "tcp-only"
	}
	w.env = append(w.env, "MAILBLAST_SMTP_TLS=starttls",
		"MAILBLAST_DKIM_DOMAIN="+domain, "MAILBLAST_DKIM_SELECTOR="+selector, "MAILBLAST_DKIM_KEY_FILE="+key,
		"MAILBLAST_UNSUBSCRIBE_URL=https://"+domain+"/unsubscribe?e={{urlquery .email}}")
	w.env = append(w.env, extra...)
	return w
}

type doctorReport struct {
	Status   string `json:"status"`
	Findings []struct {
		Check, Status, Detail, Fix string
	} `json:"findings"`
}

// doctor runs doctor --json and returns each check's status and the
// whole report, after checking the exit code.
func runDoctor(t *testing.T, w *workspace, dnsServer string, wantExit int, args ...string) (map[string]string, doctorReport) {
	t.Helper()
	args = append([]string{"doctor", "list.csv", "--json", "--dns-server", dnsServer}, args...)
	out, errs, code := w.run(args...)
	var rep doctorReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("doctor --json: %v\n%s\n%s", err, out, errs)
	}
	got := map[string]string{}
	for _, f := range rep.Findings {
		if f.Status != "OK" && f.Fix == "" {
			t.Errorf("%s is %s without a fix line", f.Check, f.Status)
		}
		got[f.Check] = f.Status
	}
	if code != wantExit {
		t.Fatalf("doctor: exit %d, want %d\n%s\n%s", code, wantExit, out, errs)
	}
	return got, rep
}

func wantStatuses(t *testing.T, got map[string]string, want map[string]string, rep doctorReport) {
	t.Helper()
	for check, status := range want {
		if got[check] != status {
			t.Errorf("%s: %s, want %s", check, got[check], status)
		}
	}
	if t.Failed() {
		b, _ := json.MarshalIndent(rep, "", "  ")
		t.Logf("report:\n%s", b)
	}
}

// TestDoctorAllGood: every record passes and the relay offers everything
// over a certificate that verifies (smtp.ca_file): exit 0, every line OK.
func TestDoctorAllGood(t *testing.T) {
	dnsServer, goodKey, _ := testZone(t)
	port, ca := startFullRelay(t, 10<<20)
	w := doctorWorkspace(t, port, "good.example", goodKey,
		"MAILBLAST_SMTP_CA_FILE="+ca, "MAILBLAST_RETURN_PATH=bounces@bounce.good.example")
	got, rep := runDoctor(t, w, dnsServer, 0)
	if rep.Status != "OK" {
		t.Errorf("status %q, want OK", rep.Status)
	}
	want := map[string]string{}
	for _, c := range []string{"spf", "dkim", "dmarc", "alignment", "mx", "relay", "tls", "pipelining", "chunking",
		"size", "smtputf8", "dsn", "auth", "bulk.spf", "bulk.dkim", "bulk.dmarc", "bulk.alignment", "bulk.tls", "bulk.unsubscribe"} {
		want[c] = "OK"
	}
	wantStatuses(t, got, want, rep)
	if len(got) != len(want) {
		t.Errorf("checks %v, want exactly %d", got, len(want))
	}
	for _, f := range rep.Findings {
		if f.Check == "alignment" && !strings.Contains(f.Detail, "relaxed") {
			t.Errorf("alignment with bounce.good.example should say it is relaxed: %q", f.Detail)
		}
		if f.Check == "size" && !strings.Contains(f.Detail, "all 3 rows") {
			t.Errorf("size should say all 3 rows were rendered: %q", f.Detail)
		}
	}
	// The JSON shape: status, and findings of exactly four string fields.
	out := w.mustRun(0, "doctor", "list.csv", "--json", "--dns-server", dnsServer)
	var shape map[string]any
	if err := json.Unmarshal([]byte(out), &shape); err != nil || len(shape) != 2 || shape["status"] != "OK" {
		t.Fatalf("JSON %v: %s", err, out)
	}
	for _, f := range shape["findings"].([]any) {
		m := f.(map[string]any)
		for _, k := range []string{"check", "status", "detail", "fix"} {
			if _, ok := m[k].(string); !ok || len(m) != 4 {
				t.Errorf("finding %v: want exactly check, status, detail and fix, strings", m)
			}
		}
	}
	// The text form ends with the overall status.
	out = w.mustRun(0, "doctor", "list.csv", "--dns-server", dnsServer)
	if !strings.HasSuffix(out, "\nOK\n") || !strings.Contains(out, "OK    dkim") {
		t.Errorf("text output:\n%s", out)
	}
}

// TestDoctorBadZone: +all, a DKIM record of another key, no DMARC; two
// SPF records on another domain. Each FAIL exits 78.
func TestDoctorBadZone(t *testing.T) {
	dnsServer, _, badKey := testZone(t)
	port, ca := startFullRelay(t, 10<<20)
	w := doctorWorkspace(t, port, "bad.example", badKey, "MAILBLAST_SMTP_CA_FILE="+ca)
	got, rep := runDoctor(t, w, dnsServer, 78)
	wantStatuses(t, got, map[string]string{
		"spf": "FAIL", "dkim": "FAIL", "dmarc": "FAIL", "mx": "WARN", "tls": "OK",
		"bulk.spf": "FAIL", "bulk.dkim": "FAIL", "bulk.dmarc": "FAIL",
	}, rep)

	w = doctorWorkspace(t, port, "two.example", badKey, "MAILBLAST_SMTP_CA_FILE="+ca)
	got, rep = runDoctor(t, w, dnsServer, 78)
	wantStatuses(t, got, map[string]string{"spf": "FAIL", "dkim": "FAIL", "dmarc": "OK"}, rep)
	for _, f := range rep.Findings {
		if f.Check == "spf" && !strings.Contains(f.Detail, "2 SPF records") {
			t.Errorf("spf detail %q should count the records", f.Detail)
		}
		if f.Check == "dmarc" && !strings.Contains(f.Detail, "p=none") {
			t.Errorf("dmarc detail %q should give the policy", f.Detail)
		}
	}
}

// TestDoctorWarnings: good DNS, but sendertest's relay: its certificate
// expires within a week (trusted through SSL_CERT_FILE), it offers no DSN
// while return_path is set, and no unsubscribe is configured: exit 1.
func TestDoctorWarnings(t *testing.T) {
	dnsServer, goodKey, _ := testZone(t)
	srv := sendertest.NewServer(t, sendertest.Options{TLS: true})
	w := doctorWorkspace(t, srv.Port(), "good.example", goodKey,
		"SSL_CERT_FILE="+srv.CertFile(), "MAILBLAST_RETURN_PATH=bounces@bounce.good.example", "MAILBLAST_UNSUBSCRIBE_URL=")
	got, rep := runDoctor(t, w, dnsServer, 1)
	wantStatuses(t, got, map[string]string{
		"spf": "OK", "dkim": "OK", "dmarc": "OK", "tls": "WARN", "dsn": "WARN", "smtputf8": "OK",
		"pipelining": "OK", "size": "OK", "bulk.tls": "WARN", "bulk.unsubscribe": "WARN",
	}, rep)
	if rep.Status != "WARN" {
		t.Errorf("status %q, want WARN", rep.Status)
	}
	if n := srv.Count(); n != 0 {
		t.Errorf("doctor sent %d messages", n)
	}
}

// TestDoctorRelayFailures: a certificate nobody trusts, a size limit
// below the message, an address needing SMTPUTF8, AUTH only in clear,
// and a refused login with --auth.
func TestDoctorRelayFailures(t *testing.T) {
	dnsServer, goodKey, _ := testZone(t)
	t.Run("untrusted certificate", func(t *testing.T) {
		srv := sendertest.NewServer(t, sendertest.Options{TLS: true})
		w := doctorWorkspace(t, srv.Port(), "good.example", goodKey)
		got, rep := runDoctor(t, w, dnsServer, 78)
		wantStatuses(t, got, map[string]string{"relay": "OK", "tls": "FAIL", "capabilities": "WARN"}, rep)
		for _, f := range rep.Findings {
			if f.Check == "tls" && !strings.Contains(f.Detail, "certificate") {
				t.Errorf("tls detail %q should name the certificate error", f.Detail)
			}
		}
	})
	t.Run("no STARTTLS", func(t *testing.T) {
		srv := sendertest.NewServer(t, sendertest.Options{})
		w := doctorWorkspace(t, srv.Port(), "good.example", goodKey)
		got, rep := runDoctor(t, w, dnsServer, 78)
		wantStatuses(t, got, map[string]string{"relay": "OK", "tls": "FAIL", "bulk.tls": "FAIL"}, rep)
		for _, f := range rep.Findings {
			if f.Check == "tls" && !strings.Contains(f.Detail, "STARTTLS") {
				t.Errorf("tls detail %q should say STARTTLS is missing", f.Detail)
			}
		}
	})
	t.Run("size and smtputf8", func(t *testing.T) {
		port, ca := startFullRelay(t, 200)
		w := doctorWorkspace(t, port, "good.example", goodKey, "MAILBLAST_SMTP_CA_FILE="+ca)
		got, rep := runDoctor(t, w, dnsServer, 78)
		wantStatuses(t, got, map[string]string{"size": "FAIL", "smtputf8": "OK"}, rep)
		srv := sendertest.NewServer(t, sendertest.Options{TLS: true})
		w = doctorWorkspace(t, srv.Port(), "good.example", goodKey, "SSL_CERT_FILE="+srv.CertFile())
		w.write("list.csv", "email,first_name,n\nuser1@example.com,A,1\njosé@example.com,B,2\n")
		got, rep = runDoctor(t, w, dnsServer, 78)
		wantStatuses(t, got, map[string]string{"size": "OK", "smtputf8": "FAIL"}, rep)
	})
	t.Run("implicit TLS", func(t *testing.T) {
		srv := sendertest.NewServer(t, sendertest.Options{ImplicitTLS: true})
		w := doctorWorkspace(t, srv.Port(), "good.example", goodKey, "SSL_CERT_FILE="+srv.CertFile(), "MAILBLAST_SMTP_TLS=tls")
		got, rep := runDoctor(t, w, dnsServer, 1)
		wantStatuses(t, got, map[string]string{"relay": "OK", "tls": "WARN", "pipelining": "OK"}, rep)
		for _, f := range rep.Findings {
			if f.Check == "tls" && !strings.Contains(f.Detail, "verified, expires") {
				t.Errorf("tls detail %q should give the expiry", f.Detail)
			}
		}
	})
	t.Run("auth in clear", func(t *testing.T) {
		srv := sendertest.NewServer(t, sendertest.Options{Username: "u", Password: "secret-pw"})
		w := doctorWorkspace(t, srv.Port(), "good.example", goodKey,
			"MAILBLAST_SMTP_TLS=none", "MAILBLAST_SMTP_USERNAME=u", "MAILBLAST_SMTP_PASSWORD=secret-pw")
		got, rep := runDoctor(t, w, dnsServer, 78)
		wantStatuses(t, got, map[string]string{"tls": "WARN", "auth": "FAIL", "bulk.tls": "WARN"}, rep)
		w.env = append(w.env, "MAILBLAST_SMTP_ALLOW_INSECURE_AUTH=true")
		got, rep = runDoctor(t, w, dnsServer, 1, "--auth")
		wantStatuses(t, got, map[string]string{"tls": "WARN", "auth": "WARN"}, rep)
	})
	t.Run("login", func(t *testing.T) {
		srv := sendertest.NewServer(t, sendertest.Options{TLS: true, Username: "u", Password: "secret-pw"})
		env := []string{"SSL_CERT_FILE=" + srv.CertFile(), "MAILBLAST_SMTP_USERNAME=u"}
		w := doctorWorkspace(t, srv.Port(), "good.example", goodKey, append(env, "MAILBLAST_SMTP_PASSWORD=secret-pw")...)
		got, rep := runDoctor(t, w, dnsServer, 1, "--auth")
		wantStatuses(t, got, map[string]string{"auth": "OK"}, rep)
		w = doctorWorkspace(t, srv.Port(), "good.example", goodKey, append(env, "MAILBLAST_SMTP_PASSWORD=wrong-pw")...)
		got, rep = runDoctor(t, w, dnsServer, 1)
		wantStatuses(t, got, map[string]string{"auth": "OK"}, rep) // no login without --auth
		out, errs, code := w.run("doctor", "list.csv", "--json", "--auth", "--dns-server", dnsServer)
		if code != 78 || !strings.Contains(out, `"check": "auth"`) || !strings.Contains(out, "535") {
			t.Errorf("--auth with a wrong password: exit %d\n%s\n%s", code, out, errs)
		}
		if strings.Contains(out+errs, "wrong-pw") {
			t.Error("the password is in doctor's output")
		}
	})
}

// TestDoctorUsage: a JSON report even when the relay is down; exit codes
// of a bad command line.
func TestDoctorUsage(t *testing.T) {
	dnsServer, goodKey, _ := testZone(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens there now
	w := doctorWorkspace(t, port, "good.example", goodKey)
	got, rep := runDoctor(t, w, dnsServer, 78)
	wantStatuses(t, got, map[string]string{"relay": "FAIL", "spf": "OK", "bulk.tls": "WARN"}, rep)
	w.mustRun(64, "doctor", "a.csv", "b.csv")
	w.mustRun(64, "doctor", "--no-such-flag")
	// Without a list, a From that needs a row's values is the template's
	// problem, as validate says it (65), with what to do; not exit 70.
	w.write("rowfrom.tmpl", "From: {{.first_name}} <news@good.example>\nSubject: x\n\nhi\n")
	_, stderr, code := w.run("doctor", "--template", "rowfrom.tmpl", "--dns-server", dnsServer)
	if code != 65 || !strings.Contains(stderr, "doctor LIST.csv") {
		t.Errorf("a From needing row values, no list: exit %d, want 65; %s", code, stderr)
	}
}
