package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailblast/mailblast/sender/sendertest"
)

// TestBadCSVStopsBeforeSending: a broken row anywhere in the list is
// reported with its row and column before any connection opens, and leaves
// no half-imported campaign behind.
func TestBadCSVStopsBeforeSending(t *testing.T) {
	for name, tc := range map[string]struct{ csv, want string }{
		"field count":  {"email,first_name,n\na@example.com,A,1\nb@example.com,B\n", "row 3"},
		"windows-1252": {"email,first_name,n\na@example.com,Ren\xe9,1\n", `row 2, column "first_name"`},
		"no email col": {"mail,first_name,n\na@example.com,A,1\n", "email"},
	} {
		t.Run(name, func(t *testing.T) {
			srv := sendertest.NewServer(t, sendertest.Options{})
			w := forServer(t, srv, 0)
			w.write("list.csv", tc.csv)
			_, stderr, code := w.run("send", "list.csv")
			if code != 65 {
				t.Fatalf("exit %d, want 65; stderr: %s", code, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("error %q does not name %q", stderr, tc.want)
			}
			if srv.Connections() != 0 {
				t.Errorf("%d connections opened for a bad list", srv.Connections())
			}
			// Fixing the list and sending again works: nothing half-written blocks it.
			w.write("list.csv", "email,first_name,n\na@example.com,A,1\n")
			w.mustRun(0, "send", "list.csv")
			if srv.Count() != 1 {
				t.Errorf("after fixing the list: %d delivered, want 1", srv.Count())
			}
		})
	}
}

func TestMissingInputsExit66(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 1)
	if _, stderr, code := w.run("send", "nope.csv"); code != 66 {
		t.Errorf("missing list: exit %d, want 66 (%s)", code, stderr)
	}
	os.Remove(filepath.Join(w.dir, "message.tmpl"))
	if _, stderr, code := w.run("send", "list.csv"); code != 66 {
		t.Errorf("missing template: exit %d, want 66 (%s)", code, stderr)
	}
}

func TestTemplateMistakeFailsBeforeConnecting(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 50)
	w.write("message.tmpl", "From: a@example.com\nSubject: Hi {{.last_name}}\n\nbody\n")
	_, stderr, code := w.run("send", "list.csv")
	if code != 65 || !strings.Contains(stderr, "last_name") || !strings.Contains(stderr, "row 2") {
		t.Fatalf("exit %d, stderr %q; want 65 naming row 2 and last_name", code, stderr)
	}
	if srv.Connections() != 0 {
		t.Errorf("connected to the relay despite a template error")
	}
}

// TestHeaderInjectionSkipsRow: a CSV value with a line break cannot add a
// header; that row is skipped with the reason, the others are sent.
func TestHeaderInjectionSkipsRow(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 0)
	w.write("list.csv", "email,first_name,n\na@example.com,Ann,1\nb@example.com,\"Bob\r\nBcc: victim@example.org\",2\nc@example.com,Cy,3\n")
	w.mustRun(0, "send", "list.csv")
	for _, m := range srv.Messages() {
		if strings.Contains(strings.ToLower(string(m.Data)), "bcc:") {
			t.Fatalf("injected header reached the relay:\n%s", m.Data)
		}
		for _, rc := range m.To {
			if strings.Contains(rc, "victim") {
				t.Fatalf("injected recipient")
			}
		}
	}
	if srv.Count() != 2 {
		t.Errorf("delivered %d, want 2", srv.Count())
	}
	r := w.report()["b@example.com"]
	if r.State != "skipped" {
		t.Errorf("injecting row state %q, want skipped", r.State)
	}
}

func TestInvalidAddressesSkipped(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 0)
	w.write("list.csv", "email,first_name,n\nok@example.com,A,1\nnot-an-address,B,2\n,C,3\n")
	w.mustRun(0, "send", "list.csv")
	s := w.status()
	if s.Sent != 1 || s.Skipped != 2 || srv.Count() != 1 {
		t.Fatalf("status %+v, delivered %d", s, srv.Count())
	}
}

// TestOutcomesFromReplies: 2xx sent, 5xx failed with its codes kept, 4xx
// deferred; a deferred run exits 75 and resume finishes it.
func TestOutcomesFromReplies(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{
		Rcpt: func(addr string, attempt int) *smtp.SMTPError {
			switch {
			case strings.HasPrefix(addr, "user2@"):
				return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
			case strings.HasPrefix(addr, "user3@") && attempt == 1:
				return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "greylisted"}
			}
			return nil
		},
	}})
	w := forServer(t, srv, 5)
	w.env = append(w.env, "MAILBLAST_RETRY_SCHEDULE=3s", "MAILBLAST_RETRY_WAIT=0s")
	_, stderr, code := w.run("send", "list.csv")
	if code != 75 || !strings.Contains(stderr, "resume") {
		t.Fatalf("exit %d, want 75 with a word about resume; stderr %s", code, stderr)
	}
	rep := w.report()
	if r := rep["user2@example.com"]; r.State != "failed" || r.Code != 550 || r.Enhanced != "5.1.1" {
		t.Errorf("5xx row: %+v", r)
	}
	if r := rep["user3@example.com"]; r.State != "deferred" || r.Code != 451 || r.Enhanced != "4.7.1" {
		t.Errorf("4xx row: %+v", r)
	}
	st := w.status()
	if st.Finished || st.Deferred != 1 {
		t.Errorf("status %+v: a deferred recipient must keep the campaign unfinished", st)
	}
	// From cron, with nothing due yet, resume exits at once, still 75,
	// and does not touch the relay early.
	before, start := srv.Count(), time.Now()
	w.mustRun(75, "resume")
	if srv.Count() != before || time.Since(start) > 5*time.Second {
		t.Errorf("resume with nothing due sent %d, took %s", srv.Count()-before, time.Since(start))
	}
	// A relay that refused is not hammered: resume waits for the schedule.
	w.mustRun(0, "resume", "--retry-wait", "5s")
	if r := w.report()["user3@example.com"]; r.State != "sent" || r.Attempts != 2 {
		t.Errorf("after resume: %+v", r)
	}
	if got := len(srv.ByRecipient()["user3@example.com"]); got != 1 {
		t.Errorf("user3 received %d copies", got)
	}
}

func TestLockHeldExits73(t *testing.T) {
	srv := slowServer(t)
	w := forServer(t, srv, 3000)
	c, _, _ := w.command("send", "list.csv", "--connections", "1")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Wait()
	defer c.Process.Kill()
	for srv.Count() < 5 {
		if c.ProcessState != nil {
			t.Fatal("first run ended early")
		}
	}
	_, stderr, code := w.run("resume", "--campaign", "list")
	if code != 73 || !strings.Contains(stderr, "locked") {
		t.Fatalf("second run: exit %d, stderr %q; want 73 and a word about the lock", code, stderr)
	}
}

func TestRelayDownExits69(t *testing.T) {
	w := newWorkspace(t, "127.0.0.1", freePort(t), 20)
	w.env = append(w.env, "MAILBLAST_SMTP_TIMEOUT=1s", "MAILBLAST_SMTP_BACKOFF=50ms")
	_, stderr, code := w.run("send", "list.csv")
	if code != 69 {
		t.Fatalf("exit %d, want 69; %s", code, stderr)
	}
	if s := w.status(); s.Failed != 0 || s.Sent != 0 {
		t.Errorf("relay down turned recipients into %+v", s)
	}
}
