package e2e

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailblast/mailblast/sender/sendertest"
)

// Tests of decisions that two commands must make alike: validate and send,
// preview, report and the relay, the summary and status.

// TestReportOfNothing: the README's `report --state failed` when nothing
// failed is a header line and exit 0; an unknown state is a usage error
// that lists the states.
func TestReportOfNothing(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 3)
	w.mustRun(0, "send", "list.csv")
	out := w.mustRun(0, "report", "--state", "failed")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "row,email,state") {
		t.Errorf("report of nothing: %q, want the header line alone", out)
	}
	if out := w.mustRun(0, "report", "--state", "failed", "--format", "json"); out != "" {
		t.Errorf("JSON report of nothing: %q", out)
	}
	_, stderr, code := w.run("report", "--state", "bogus")
	if code != 64 || !strings.Contains(stderr, "pending") || !strings.Contains(stderr, "skipped") {
		t.Errorf("--state bogus: exit %d, want 64 listing the states; stderr %s", code, stderr)
	}
	// A sent row keeps the relay's reply: its queue ID traces the message.
	for _, r := range w.report() {
		if r.State != "sent" || r.Code != 250 {
			t.Errorf("row %+v", r)
		}
	}
	out = w.mustRun(0, "report", "--state", "sent", "--format", "json")
	if !strings.Contains(out, `"reply":"`) || strings.Contains(out, `"reply":""`) {
		t.Errorf("sent rows lost the relay's reply:\n%s", out)
	}
}

const fromTemplate = `From: News <news@{{.domain}}>
Subject: Hello #{{.n}}

Row {{.n}}.
`

// TestBadFromSameDecision: a From that does not parse in the first row is
// that row's problem for validate and for send alike, as in any other row.
func TestBadFromSameDecision(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 0)
	w.write("message.tmpl", fromTemplate)
	w.write("list.csv", "email,domain,n\nuser1@example.com,bad domain@,1\nuser2@example.com,example.org,2\nuser3@example.com,ex ample@,3\n")
	out := w.mustRun(0, "validate", "list.csv")
	if !strings.Contains(out, "1 to send, 2 skipped") {
		t.Fatalf("validate:\n%s", out)
	}
	_, stderr, code := w.run("send", "list.csv")
	if code != 0 {
		t.Fatalf("send: exit %d, validate said 1 to send\n%s", code, stderr)
	}
	if st := w.status(); st.Sent != 1 || st.Skipped != 2 {
		t.Errorf("send: %+v, want what validate said", st)
	}
	if r := w.report()["user1@example.com"]; r.State != "skipped" {
		t.Errorf("row 2: %+v", r)
	}
}

var messageIDLine = regexp.MustCompile(`(?mi)^Message-ID: <([^>]*)>`)

// TestMessageIDOwnDomain: with a From domain per row, each message's
// Message-ID is on its own domain, the same on the deferred attempt and the
// retry, and what report and preview show.
func TestMessageIDOwnDomain(t *testing.T) {
	var mu sync.Mutex
	seen := map[string][]string{} // recipient -> Message-IDs of every DATA
	srv := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{
		Data: func(rcpts []string, data []byte) *smtp.SMTPError {
			mu.Lock()
			defer mu.Unlock()
			m := messageIDLine.FindSubmatch(data)
			if m == nil {
				return nil
			}
			seen[rcpts[0]] = append(seen[rcpts[0]], string(m[1]))
			if len(seen[rcpts[0]]) == 1 && rcpts[0] == "user2@example.com" {
				return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again"}
			}
			return nil
		},
	}})
	w := forServer(t, srv, 0)
	w.write("message.tmpl", fromTemplate)
	w.write("list.csv", "email,domain,n\nuser1@example.com,one.example,1\nuser2@example.com,two.example,2\nuser3@example.com,three.example,3\n")
	w.env = append(w.env, "MAILBLAST_RETRY_SCHEDULE=1s")
	w.mustRun(0, "send", "list.csv", "--retry-wait", "20s")
	rep := w.report()
	for i, dom := range []string{"one.example", "two.example", "three.example"} {
		addr := fmt.Sprintf("user%d@example.com", i+1)
		ids := seen[addr]
		if len(ids) == 0 {
			t.Fatalf("%s got nothing", addr)
		}
		for _, id := range ids {
			if !strings.HasSuffix(id, "@"+dom) || id != ids[0] {
				t.Errorf("%s: Message-IDs %v, want one, on %s", addr, ids, dom)
			}
		}
		if rep[addr].MessageID != ids[0] {
			t.Errorf("%s: report says %q, the relay got %q", addr, rep[addr].MessageID, ids[0])
		}
		pre := w.mustRun(0, "preview", "list.csv", "--row", fmt.Sprint(i+2))
		if m := messageIDLine.FindStringSubmatch(pre); m == nil || m[1] != ids[0] {
			t.Errorf("%s: preview shows %v, the relay got %q", addr, m, ids[0])
		}
	}
	if len(seen["user2@example.com"]) != 2 {
		t.Errorf("user2 attempts: %v", seen["user2@example.com"])
	}
}

// TestInterruptDuringRetryWait: SIGINT while send waits for deferred
// recipients to fall due exits 130 like any other interrupt.
func TestInterruptDuringRetryWait(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{
		Rcpt: func(addr string, attempt int) *smtp.SMTPError {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "greylisted"}
		},
	}})
	w := forServer(t, srv, 2)
	w.env = append(w.env, "MAILBLAST_RETRY_SCHEDULE=1m")
	c, _, _ := w.command("send", "list.csv", "--retry-wait", "10m")
	c.Stderr = nil
	pipe, err := c.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waiting := make(chan struct{})
	var stderr strings.Builder
	go func() {
		sc := bufio.NewScanner(pipe)
		once := sync.Once{}
		for sc.Scan() {
			stderr.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "waiting") {
				once.Do(func() { close(waiting) })
			}
		}
	}()
	select {
	case <-waiting:
	case <-time.After(30 * time.Second):
		c.Process.Kill()
		t.Fatal("send never said it was waiting")
	}
	c.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		c.Process.Kill()
		t.Fatal("SIGINT did not end the wait")
	}
	if code := c.ProcessState.ExitCode(); code != 130 {
		t.Errorf("SIGINT during the retry wait: exit %d, want 130", code)
	}
}

// TestListEditedKeepingSizeAndTime: a list edited during an unfinished
// import, with its size and mtime put back (touch -r), is refused when the
// import resumes, and the edited row is not mailed.
func TestListEditedKeepingSizeAndTime(t *testing.T) {
	const rows = 20000
	srv := slowServer(t)
	w := forServer(t, srv, rows)
	if code := w.signalWhen(syscall.SIGINT, func() bool { return srv.Count() >= 1 }, "send", "list.csv", "--connections", "1"); code != 130 {
		t.Fatalf("SIGINT: exit %d, want 130", code)
	}
	if st := w.status(); st.Total >= rows-1 {
		t.Fatalf("the import finished before the interrupt (%d rows): this test needs a longer list", st.Total)
	}
	path := filepath.Join(w.dir, "list.csv")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	b = []byte(strings.Replace(string(b), "user19999@example.com", "evil19999@example.com", 1))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := w.run("resume")
	if code != 65 || !strings.Contains(stderr, "list") {
		t.Errorf("resume of an edited list: exit %d, want 65\n%s", code, stderr)
	}
	if n := len(srv.ByRecipient()["evil19999@example.com"]); n != 0 {
		t.Errorf("the edited row was mailed %d times", n)
	}
}

// TestSummaryAgreesWithStatus: after a double Ctrl-C leaves rows in
// flight, the run's summary line gives the same counts status does.
func TestSummaryAgreesWithStatus(t *testing.T) {
	var stuck atomic.Int32
	srv := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{
		Data: func([]string, []byte) *smtp.SMTPError { stuck.Add(1); time.Sleep(3 * time.Second); return nil },
	}})
	w := forServer(t, srv, 40)
	w.env = append(w.env, "MAILBLAST_GRACE=100ms")
	c, _, errb := w.command("send", "list.csv", "--connections", "4")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); stuck.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond) // until a message is stuck after its final dot
	}
	c.Process.Signal(syscall.SIGINT)
	time.Sleep(100 * time.Millisecond)
	c.Process.Signal(syscall.SIGINT)
	c.Wait()
	st := w.status()
	if st.Inflight == 0 {
		t.Skipf("no row left in flight (%+v): nothing to compare", st)
	}
	want := fmt.Sprintf("%d pending, %d in flight", st.Pending, st.Inflight)
	if !strings.Contains(errb.String(), want) {
		t.Errorf("status %+v; the summary does not say %q:\n%s", st, want, errb.String())
	}
}

// TestStatusNamesItsDirectory: with no campaigns, status and resume say
// which state directory they looked in, and status does not create it.
func TestStatusNamesItsDirectory(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 1)
	state := filepath.Join(w.dir, "state")
	out, stderr, code := w.run("status")
	if code != 0 || !strings.Contains(out+stderr, state) {
		t.Errorf("status with no campaigns: exit %d, %q %q: want the state directory named", code, out, stderr)
	}
	if _, err := os.Stat(state); err == nil {
		t.Errorf("status created the state directory")
	}
	if s := w.mustRun(0, "status", "--json"); strings.TrimSpace(s) != "" {
		t.Errorf("status --json with no campaigns: %q", s)
	}
	out, stderr, code = w.run("resume")
	if code != 0 || !strings.Contains(out+stderr, state) {
		t.Errorf("resume with no campaigns: exit %d, %q %q", code, out, stderr)
	}
}

// TestResumeSaysEachErrorOnce: a campaign that cannot continue is reported
// once, with its name; an early error comes without a summary before it;
// waiting for retries is said once, not once per pass.
func TestResumeSaysEachErrorOnce(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{
		Rcpt: func(addr string, attempt int) *smtp.SMTPError {
			if strings.HasPrefix(addr, "user1@") {
				return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "greylisted"}
			}
			return nil
		},
	}})
	w := forServer(t, srv, 3)
	_, stderr, code := w.run("send", "list.csv", "--template", "missing.tmpl")
	if code != 66 || strings.Contains(stderr, "recipients:") {
		t.Errorf("missing template: exit %d, want 66 and no summary:\n%s", code, stderr)
	}
	w.env = append(w.env, "MAILBLAST_RETRY_SCHEDULE=1m")
	w.mustRun(75, "send", "list.csv", "--retry-wait", "0s")
	w.write("message.tmpl", template+"changed\n")
	_, stderr, code = w.run("resume")
	if code != 65 || !strings.Contains(stderr, "campaign list") {
		t.Fatalf("resume with a changed template: exit %d\n%s", code, stderr)
	}
	if n := strings.Count(stderr, "different template"); n != 1 {
		t.Errorf("the error is said %d times:\n%s", n, stderr)
	}
}

// TestPreviewRows: --row 0 is refused; a row that send skips says so and
// why, without claiming that nothing can be sent.
func TestPreviewRows(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 0)
	w.write("list.csv", "email,first_name,n\nok@example.com,A,1\nnot-an-address,B,2\nok@example.com,C,3\n")
	w.mustRun(64, "preview", "list.csv", "--row", "0")
	_, stderr, code := w.run("preview", "list.csv", "--row", "3")
	if code != 65 || strings.Contains(stderr, "no row of the list can be sent") || !strings.Contains(stderr, "row 3 is skipped") {
		t.Errorf("preview of an invalid row: exit %d\n%s", code, stderr)
	}
	// One wording for a duplicate: validate names the row, as report does.
	out := w.mustRun(0, "validate", "list.csv")
	if !strings.Contains(out, "duplicate of row 2") {
		t.Errorf("validate does not name the first row:\n%s", out)
	}
	w.mustRun(0, "send", "list.csv")
	if st := w.status(); st.Sent != 1 || st.Skipped != 2 {
		t.Errorf("status %+v", st)
	}
	out = w.mustRun(0, "report", "--state", "skipped")
	if !strings.Contains(out, "duplicate of row 2") {
		t.Errorf("report:\n%s", out)
	}
}
