package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mailblast/mailblast/feedback/imapfetch/dovecottest"
	"github.com/mailblast/mailblast/sender/sendertest"
)

// fetchEnv points the workspace's binary at a Dovecot's mailbox on port.
func fetchEnv(w *workspace, srv *dovecottest.Server, port int, mode string) {
	w.env = append(w.env, "MAILBLAST_FEEDBACK_IMAP_HOST=127.0.0.1", "MAILBLAST_FEEDBACK_IMAP_PORT="+strconv.Itoa(port),
		"MAILBLAST_FEEDBACK_IMAP_TLS="+mode, "MAILBLAST_FEEDBACK_IMAP_USERNAME="+srv.User,
		"MAILBLAST_FEEDBACK_IMAP_PASSWORD="+srv.Password)
	if srv.CertFile != "" {
		w.env = append(w.env, "SSL_CERT_FILE="+srv.CertFile)
	}
}

type fetchSummary struct {
	Messages, Unmatched, Unreadable, Other, Moved, Duplicates int
	HardBounces                                               int `json:"hard_bounces"`
	AutoReplies                                               int `json:"auto_replies"`
}

func (w *workspace) fetch() fetchSummary {
	w.t.Helper()
	out := w.mustRun(0, "feedback", "fetch", "--json")
	var s fetchSummary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		w.t.Fatalf("feedback fetch --json: %v\n%s", err, out)
	}
	return s
}

// recorder is a TCP relay that keeps what the client sent: the proof of
// what went over the wire, whatever the client believes it did.
type recorder struct {
	ln   net.Listener
	mu   sync.Mutex
	sent bytes.Buffer
	wg   sync.WaitGroup
}

func newRecorder(t *testing.T, target int) *recorder {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{ln: ln}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.wg.Add(1)
			go r.relay(c, net.JoinHostPort("127.0.0.1", strconv.Itoa(target)))
		}
	}()
	t.Cleanup(func() { ln.Close(); r.wg.Wait() })
	return r
}

func (r *recorder) relay(c net.Conn, target string) {
	defer r.wg.Done()
	defer c.Close()
	up, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	done := make(chan struct{})
	go func() { io.Copy(c, up); c.Close(); close(done) }()
	io.Copy(up, io.TeeReader(c, r))
	up.Close()
	<-done
}

func (r *recorder) Write(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sent.Write(b)
}

func (r *recorder) port() int { return r.ln.Addr().(*net.TCPAddr).Port }

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sent.String()
}

// (a) The password never goes over a connection without TLS unless
// feedback.imap.tls is none: not over a server without STARTTLS, not
// over a port that does not speak TLS.
func TestFeedbackFetchRefusesPasswordWithoutTLS(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{}) // ssl = no: no STARTTLS
	for _, mode := range []string{"starttls", "tls"} {
		t.Run(mode, func(t *testing.T) {
			rec := newRecorder(t, srv.PlainPort)
			w := newWorkspace(t, "127.0.0.1", 1, 1)
			fetchEnv(w, srv, rec.port(), mode)
			_, errs, code := w.run("feedback", "fetch")
			if code != 78 || !strings.Contains(errs, "feedback.imap.tls") {
				t.Fatalf("exit %d, want 78 naming feedback.imap.tls\n%s", code, errs)
			}
			if sent := strings.ToUpper(rec.String()); strings.Contains(sent, "LOGIN") || strings.Contains(sent, "AUTHENTICATE") ||
				strings.Contains(rec.String(), srv.Password) {
				t.Fatalf("the client sent credentials:\n%q", rec.String())
			}
			if strings.Contains(errs, srv.Password) {
				t.Fatalf("stderr holds the password:\n%s", errs)
			}
		})
	}
	t.Run("none said in so many words", func(t *testing.T) {
		rec := newRecorder(t, srv.PlainPort)
		w := newWorkspace(t, "127.0.0.1", 1, 1)
		fetchEnv(w, srv, rec.port(), "none")
		if s := w.fetch(); s.Messages != 0 {
			t.Fatalf("empty mailbox: %+v", s)
		}
		if !strings.Contains(rec.String(), "LOGIN") {
			t.Fatalf("tls: none did not log in:\n%q", rec.String())
		}
	})
}

// Refusals each exit with their code, and none shows the password.
func TestFeedbackFetchExitCodes(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{TLS: true})
	cases := []struct {
		name string
		env  []string
		want int
		says string
	}{
		{"wrong password", []string{"MAILBLAST_FEEDBACK_IMAP_PASSWORD=not-it"}, 77, "refused the login"},
		{"nobody listening", []string{"MAILBLAST_FEEDBACK_IMAP_PORT=" + strconv.Itoa(closedPort(t))}, 75, "unreachable"},
		{"tls mode in capitals", []string{"MAILBLAST_FEEDBACK_IMAP_TLS=STARTTLS"}, 78, "feedback.imap.tls"},
		{"unknown CA", []string{"SSL_CERT_FILE=/dev/null/none"}, 78, "feedback.imap.ca_file"},
		{"no host", []string{"MAILBLAST_FEEDBACK_IMAP_HOST="}, 78, "feedback.imap.host"},
		{"no password", []string{"MAILBLAST_FEEDBACK_IMAP_PASSWORD="}, 78, "MAILBLAST_FEEDBACK_IMAP_PASSWORD"},
		{"processed is the mailbox", []string{"MAILBLAST_FEEDBACK_IMAP_PROCESSED_MAILBOX=inbox"}, 78, "processed_mailbox"},
		{"missing mailbox", []string{"MAILBLAST_FEEDBACK_IMAP_MAILBOX=Nowhere"}, 78, "feedback.imap.mailbox"},
		{"password and its file", []string{"MAILBLAST_FEEDBACK_IMAP_PASSWORD_FILE=/etc/hostname"}, 78, "both set"},
		{"port out of range", []string{"MAILBLAST_FEEDBACK_IMAP_PORT=70000"}, 78, "feedback.imap.port"},
		{"no pass timeout", []string{"MAILBLAST_FEEDBACK_IMAP_TIMEOUT=0s"}, 78, "feedback.imap.timeout"},
		{"ca_file not PEM", []string{"MAILBLAST_FEEDBACK_IMAP_CA_FILE=/etc/hostname"}, 78, "feedback.imap.ca_file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorkspace(t, "127.0.0.1", 1, 1)
			fetchEnv(w, srv, srv.TLSPort, "tls")
			w.env = append(w.env, tc.env...)
			_, errs, code := w.run("feedback", "fetch")
			if code != tc.want || !strings.Contains(errs, tc.says) {
				t.Fatalf("exit %d, want %d saying %q\n%s", code, tc.want, tc.says, errs)
			}
			if strings.Contains(errs, srv.Password) {
				t.Fatalf("stderr holds the password:\n%s", errs)
			}
		})
	}
}

func closedPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

const unrelatedMail = "From: Ann <ann@example.org>\r\nTo: bounces@example.com\r\nSubject: lunch?\r\nMessage-ID: <lunch@example.org>\r\nDate: Mon, 1 Dec 2026 10:00:00 +0000\r\n\r\nAre you free on Friday?\r\n"

const autoReply = "From: Bob <bob@example.org>\r\nTo: bounces@example.com\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\nMessage-ID: <ooo@example.org>\r\nDate: Mon, 1 Dec 2026 10:00:00 +0000\r\n\r\nI am away until Monday.\r\n"

// fetchDSN is an RFC 3464 bounce for rcpt of the message msgID, sent to to.
func fetchDSN(to, rcpt, msgID string) []byte {
	return fmt.Appendf(nil, `From: Mail Delivery System <MAILER-DAEMON@mx.example.net>
To: %[1]s
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
Message-ID: <dsn-%[3]s>
Date: Mon, 1 Dec 2026 10:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b1"

--b1
Content-Type: text/plain

Your message could not be delivered to %[2]s.

--b1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; %[2]s
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <%[2]s>: Recipient address rejected: User unknown

--b1
Content-Type: text/rfc822-headers

From: Sender <news@example.com>
To: %[2]s
Subject: Hello
Message-ID: <%[3]s>

--b1--
`, to, rcpt, msgID)
}

func crlf(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")) }

// (b) and (c): what fetch does not act on stays in INBOX as it was, flags
// and all; a second pass reads nothing; the mark is in a 0600 file.
func TestFeedbackFetchLeavesTheRestAndRemembers(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{TLS: true})
	srv.Deliver(t, "", []byte(unrelatedMail))
	srv.Deliver(t, "", []byte(autoReply))
	for i := 1; i <= 3; i++ { // Message-IDs mailblast never issued: match nobody
		srv.Deliver(t, "", crlf(fetchDSN("bounces@example.com", fmt.Sprintf("user%d@example.com", i), fmt.Sprintf("forged-%d@example.com", i))))
	}
	before := srv.Messages(t, "INBOX")
	w := newWorkspace(t, "127.0.0.1", 1, 1)
	fetchEnv(w, srv, srv.TLSPort, "tls")
	s := w.fetch()
	if s.Messages != 5 || s.Moved != 0 {
		t.Fatalf("first fetch: %+v, want 5 read, none moved", s)
	}
	if s.Other != 1 || s.AutoReplies != 1 || s.Unmatched != 3 {
		t.Errorf("first fetch: %+v, want 1 other, 1 auto-reply, 3 unmatched", s)
	}
	after := srv.Messages(t, "INBOX")
	if len(after) != len(before) {
		t.Fatalf("INBOX held %d messages, now %d", len(before), len(after))
	}
	for i, m := range after {
		if m.Seen() || m.Deleted() || !bytes.Equal(m.Raw, before[i].Raw) {
			t.Errorf("%s: flags %q (want no S, no T), content kept: %v", m.File, m.Flags, bytes.Equal(m.Raw, before[i].Raw))
		}
	}
	if got := srv.Messages(t, "mailblast-processed"); len(got) != 0 {
		t.Errorf("%d messages were moved", len(got))
	}

	// The second pass, in clear through a recorder so that what it asks
	// for can be read: no FETCH at all.
	rec := newRecorder(t, srv.PlainPort)
	w.env = append(w.env, "MAILBLAST_FEEDBACK_IMAP_PORT="+strconv.Itoa(rec.port()), "MAILBLAST_FEEDBACK_IMAP_TLS=none")
	if s := w.fetch(); s.Messages != 0 {
		t.Fatalf("second fetch: %+v, want 0 messages examined", s)
	}
	if sent := strings.ToUpper(rec.String()); !strings.Contains(sent, "SELECT") || strings.Contains(sent, "FETCH") {
		t.Fatalf("second fetch asked for messages:\n%s", strings.ReplaceAll(rec.String(), srv.Password, "***"))
	}
	path := filepath.Join(w.dir, "state", "feedback-fetch.json")
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v, mode %v; want 0600", path, err, fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), `"uidvalidity"`) || !strings.Contains(string(b), `"last_uid": 5`) {
		t.Fatalf("state file:\n%s", b)
	}
	srv.Deliver(t, "", []byte(strings.Replace(unrelatedMail, "lunch@", "lunch2@", 1)))
	if s := w.fetch(); s.Messages != 1 {
		t.Fatalf("fetch after one more message: %+v, want 1 examined", s)
	}
}

// (d) Across the parts: a campaign sent with return_path, two real-looking
// DSNs built from the Message-IDs the relay received, fetched over IMAP:
// the two recipients are bounced and the DSNs are in the processed mailbox.
func TestFeedbackFetchBouncesSentRecipients(t *testing.T) {
	relay := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, relay, 3)
	w.env = append(w.env, "MAILBLAST_RETURN_PATH=bounces@example.com")
	w.mustRun(0, "send", "list.csv")
	srv := dovecottest.Start(t, dovecottest.Options{TLS: true})
	byRcpt := relay.ByRecipient()
	for _, rcpt := range []string{"user1@example.com", "user2@example.com"} {
		m := byRcpt[rcpt]
		if len(m) != 1 || m[0].MessageID == "" {
			t.Fatalf("relay got %d messages for %s", len(m), rcpt)
		}
		srv.Deliver(t, "", crlf(fetchDSN(m[0].From, rcpt, strings.Trim(m[0].MessageID, "<>"))))
	}
	srv.Deliver(t, "", []byte(unrelatedMail))
	fetchEnv(w, srv, srv.TLSPort, "tls")
	s := w.fetch()
	if s.Messages != 3 || s.HardBounces != 2 || s.Moved != 2 {
		t.Fatalf("fetch: %+v, want 3 read, 2 hard bounces, 2 moved", s)
	}
	var st struct{ Bounced, Sent int }
	if err := json.Unmarshal([]byte(w.mustRun(0, "status", "--json")), &st); err != nil || st.Bounced != 2 || st.Sent != 1 {
		t.Fatalf("status: %+v (%v), want 2 bounced, 1 sent", st, err)
	}
	if got := srv.Messages(t, "mailblast-processed"); len(got) != 2 {
		t.Fatalf("processed mailbox holds %d messages, want the 2 DSNs", len(got))
	}
	if inbox := srv.Messages(t, "INBOX"); len(inbox) != 1 || inbox[0].Seen() {
		t.Fatalf("INBOX: %+v, want the unrelated mail, unseen", inbox)
	}
	if s := w.fetch(); s.Messages != 0 {
		t.Fatalf("second fetch: %+v, want nothing read", s)
	}
}

// A second fetch while one runs exits 73 at once; a signal ends a pass
// stuck on a server that says nothing with 130, not after the timeout.
func TestFeedbackFetchLockAndSignal(t *testing.T) {
	mute, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never greets
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	var accepted atomic.Bool
	go func() {
		for {
			c, err := mute.Accept()
			if err != nil {
				return
			}
			accepted.Store(true)
			defer c.Close()
		}
	}()
	srv := &dovecottest.Server{User: "feedback", Password: "pw-not-used"}
	w := newWorkspace(t, "127.0.0.1", 1, 1)
	fetchEnv(w, srv, mute.Addr().(*net.TCPAddr).Port, "none")
	first, _, _ := w.command("feedback", "fetch")
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer first.Process.Kill()
	for deadline := time.Now().Add(20 * time.Second); !accepted.Load(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first fetch never connected")
		}
	}
	if _, errs, code := w.run("feedback", "fetch"); code != 73 || !strings.Contains(errs, "another feedback fetch") {
		t.Fatalf("second fetch: exit %d, want 73\n%s", code, errs)
	}
	first.Process.Signal(syscall.SIGINT)
	waited := make(chan error, 1)
	go func() { waited <- first.Wait() }()
	select {
	case err := <-waited:
		if code := first.ProcessState.ExitCode(); code != 130 {
			t.Fatalf("interrupted fetch: exit %d (%v), want 130", code, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the fetch did not end within 20 s of SIGINT")
	}
}

// hostileIMAP is an IMAP server on loopback that greets with greet and
// answers each command line with answer (upper case, tag apart); it
// serves every connection the same way.
func hostileIMAP(t *testing.T, greet func(w *bufio.Writer), answer func(tag, up string, w *bufio.Writer)) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				w := bufio.NewWriter(c)
				greet(w)
				w.Flush()
				for sc := bufio.NewScanner(c); sc.Scan(); w.Flush() {
					tag, cmd, _ := strings.Cut(sc.Text(), " ")
					answer(tag, strings.ToUpper(cmd), w)
				}
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// floodIMAP writes chunk until the client hangs up (or 4 GiB went).
func floodIMAP(w *bufio.Writer, chunk []byte) {
	for sent := 0; sent < 4<<30; sent += len(chunk) {
		if _, err := w.Write(chunk); err != nil || w.Flush() != nil {
			return
		}
	}
}

// fetchWithin runs the binary, kills it after limit, and returns its
// stderr, exit code and peak RSS in MB.
func fetchWithin(t *testing.T, w *workspace, limit time.Duration, args ...string) (string, int, int64) {
	t.Helper()
	c, _, errb := w.command(args...)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(limit):
		c.Process.Kill()
		<-done
		t.Fatalf("mailblast %s still ran after %s\n%s", strings.Join(args, " "), limit, errb)
	}
	rss := c.ProcessState.SysUsage().(*syscall.Rusage).Maxrss >> 10 // KiB on Linux
	return errb.String(), c.ProcessState.ExitCode(), rss
}

// wantCutShort checks a pass that ended on a bound: exit 75, why in one line.
func wantCutShort(t *testing.T, errs string, code int, why string) {
	t.Helper()
	if code != 75 || !strings.Contains(errs, why) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Fatalf("exit %d, want 75 and one line saying %q\n%s", code, why, errs)
	}
}

// A server (or, before STARTTLS, anyone on the path) that greets with a
// line without end makes fetch read 64 KiB and end, exit 75; it used to
// read about 2 GB into memory for 36 s.
func TestFeedbackFetchEndlessGreeting(t *testing.T) {
	port := hostileIMAP(t, func(w *bufio.Writer) {
		w.WriteString("* OK ")
		floodIMAP(w, bytes.Repeat([]byte("x"), 1<<20))
	}, func(string, string, *bufio.Writer) {})
	for _, mode := range []string{"none", "starttls"} {
		t.Run(mode, func(t *testing.T) {
			w := newWorkspace(t, "127.0.0.1", 1, 1)
			fetchEnv(w, &dovecottest.Server{User: "u", Password: "pw"}, port, mode)
			errs, code, rss := fetchWithin(t, w, 30*time.Second, "feedback", "fetch")
			wantCutShort(t, errs, code, "more than 64 KiB before the login")
			t.Logf("tls %s: peak RSS %d MB", mode, rss)
			if rss > 200 {
				t.Fatalf("peak RSS %d MB", rss)
			}
		})
	}
}

// A server that answers the body fetch with the flags of one message
// again and again ends the pass (exit 75) and the lock with it: the next
// run is not turned away with 73.
func TestFeedbackFetchEndlessFetchResponses(t *testing.T) {
	port := hostileIMAP(t, func(w *bufio.Writer) {
		w.WriteString("* OK [CAPABILITY IMAP4rev1 MOVE UIDPLUS] hostile\r\n")
	}, func(tag, up string, w *bufio.Writer) {
		switch {
		case strings.HasPrefix(up, "SELECT"):
			w.WriteString("* 1 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 2] ok\r\n")
		case strings.Contains(up, "RFC822.SIZE"):
			w.WriteString("* 1 FETCH (UID 1 RFC822.SIZE 100)\r\n")
		case strings.Contains(up, "BODY.PEEK[]"):
			floodIMAP(w, []byte("* 1 FETCH (UID 1 FLAGS (\\Seen))\r\n"))
			return
		case strings.HasPrefix(up, "LOGOUT"):
			w.WriteString("* BYE bye\r\n")
		}
		fmt.Fprintf(w, "%s OK done\r\n", tag)
	})
	w := newWorkspace(t, "127.0.0.1", 1, 1)
	fetchEnv(w, &dovecottest.Server{User: "u", Password: "pw"}, port, "none")
	for range 2 {
		errs, code, _ := fetchWithin(t, w, 60*time.Second, "feedback", "fetch")
		wantCutShort(t, errs, code, "unasked FETCH responses during a UID FETCH (BODY.PEEK[])")
	}
}
