package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailblast/mailblast/sender/sendertest"
)

const secret = "pa55-w0rd-never-shown"

func tlsWorkspace(t *testing.T, srv *sendertest.Server, password string) *workspace {
	w := forServer(t, srv, 10)
	w.env = append(w.env, "MAILBLAST_SMTP_TLS=starttls", "MAILBLAST_SMTP_USERNAME=u",
		"SSL_CERT_FILE="+srv.CertFile(), "MAILBLAST_SMTP_PASSWORD="+password)
	return w
}

// TestPasswordNeverShown: a rejected password exits 77, and neither the
// output nor the ledger file holds the password, on success or failure.
func TestPasswordNeverShown(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{TLS: true, Username: "u", Password: secret})
	bad := tlsWorkspace(t, srv, "wrong-"+secret)
	out, stderr, code := bad.run("send", "list.csv")
	if code != 77 {
		t.Fatalf("wrong password: exit %d, want 77; %s", code, stderr)
	}
	good := tlsWorkspace(t, srv, secret)
	out2, stderr2, code := good.run("send", "list.csv")
	if code != 0 || srv.Count() != 10 {
		t.Fatalf("right password over verified STARTTLS: exit %d, %d delivered; %s", code, srv.Count(), stderr2)
	}
	for _, s := range []string{out, stderr, out2, stderr2, good.mustRun(0, "report"), good.mustRun(0, "status")} {
		if strings.Contains(s, secret) {
			t.Fatalf("password shown: %s", s)
		}
	}
	for _, w := range []*workspace{bad, good} {
		filepath.Walk(filepath.Join(w.dir, "state"), func(p string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() {
				if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(secret)) {
					t.Errorf("password in %s", p)
				}
			}
			return nil
		})
	}
}

func TestCertificateNotTrustedExits78(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{TLS: true})
	w := forServer(t, srv, 3)
	w.env = append(w.env, "MAILBLAST_SMTP_TLS=starttls")
	_, stderr, code := w.run("send", "list.csv")
	if code != 78 || !strings.Contains(stderr, "certificate") || srv.Count() != 0 {
		t.Fatalf("exit %d, %d delivered, stderr %q; want 78 and nothing sent", code, srv.Count(), stderr)
	}
}

func TestUsageExits64(t *testing.T) {
	w := newWorkspace(t, "127.0.0.1", 1, 1)
	if _, _, code := w.run("send"); code != 64 {
		t.Errorf("send without a list: exit %d, want 64", code)
	}
	if _, _, code := w.run("send", "list.csv", "--no-such-flag"); code != 64 {
		t.Errorf("unknown flag: exit %d, want 64", code)
	}
	if out, _, code := w.run("--help"); code != 0 || !strings.Contains(out, "EXIT STATUS") {
		t.Errorf("--help: exit %d, no EXIT STATUS section:\n%s", code, out)
	}
}

// TestSecondSignalAbandons: the second SIGINT exits at once even with
// messages stuck on the wire; the ledger stays consistent and resume
// delivers everyone, duplicates only among rows reported in flight.
func TestSecondSignalAbandons(t *testing.T) {
	var slow = make(chan struct{})
	srv := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{
		Data: func([]string, []byte) *smtp.SMTPError {
			select {
			case <-slow:
			case <-time.After(3 * time.Second):
			}
			return nil
		},
	}})
	w := forServer(t, srv, 40)
	c, _, errb := w.command("send", "list.csv", "--connections", "4")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond) // the first messages are now stuck in DATA
	c.Process.Signal(syscall.SIGINT)
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	c.Process.Signal(syscall.SIGINT)
	err := c.Wait()
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("second signal took %s to stop the run", took)
	}
	if c.ProcessState.ExitCode() != 130 {
		t.Fatalf("exit %v, want 130; %s", err, errb)
	}
	close(slow)
	w.mustRun(0, "resume")
	rep := w.report()
	for addr, msgs := range srv.ByRecipient() {
		if len(msgs) > 1 && rep[addr].Recovered == 0 {
			t.Errorf("%s: %d copies but never reported in flight", addr, len(msgs))
		}
	}
	if len(srv.ByRecipient()) != 40 {
		t.Errorf("%d of 40 recipients delivered", len(srv.ByRecipient()))
	}
}
