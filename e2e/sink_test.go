package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// smtpSink is Postfix's smtp-sink, a real SMTP server nobody here wrote,
// dumping every transaction to a file that the test reads back.
type smtpSink struct {
	port   int
	dump   string
	offset int64 // Count's position in the dump
	count  int
}

func sinkBinary(t testing.TB) string {
	for _, p := range []string{"/usr/sbin/smtp-sink", "/usr/bin/smtp-sink"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("smtp-sink"); err == nil {
		return p
	}
	if os.Getenv("MAILBLAST_REQUIRE_REAL_SERVERS") != "" {
		t.Fatal("smtp-sink not installed (scripts/install-deps.sh installs it)")
	}
	t.Skip("smtp-sink not installed; run scripts/install-deps.sh")
	return ""
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startSink(t testing.TB, extra ...string) *smtpSink {
	bin := sinkBinary(t)
	dir, err := os.MkdirTemp("", "sink")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o777) // smtp-sink drops to the unprivileged user before writing
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &smtpSink{port: freePort(t), dump: filepath.Join(dir, "dump")}
	args := slices.Concat(extra, []string{"-D", s.dump, fmt.Sprintf("127.0.0.1:%d", s.port), "256"}) // a new array: extra is the caller's
	if os.Geteuid() == 0 {
		args = append([]string{"-u", "nobody"}, args...)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.port)); err == nil {
			c.Close()
			return s
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("smtp-sink did not start listening")
	return nil
}

const recordStart = "X-Client-Addr: "

// Count reads only what was appended since the last call.
func (s *smtpSink) Count() int {
	f, err := os.Open(s.dump)
	if err != nil {
		return 0
	}
	defer f.Close()
	f.Seek(s.offset, 0)
	b, _ := io.ReadAll(f)
	// Keep a partial last line for the next call so a marker is never split.
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[:i+1]
	} else {
		b = nil
	}
	s.count += bytes.Count(b, []byte("\n"+recordStart)) + boolInt(bytes.HasPrefix(b, []byte(recordStart)))
	s.offset += int64(len(b))
	return s.count
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

type sinkMessage struct{ Rcpt, Subject, MessageID string }

// messages parses the dump: each transaction starts with X-Client-Addr and
// carries the envelope in X-Rcpt-Args before the message headers.
func (s *smtpSink) messages(t testing.TB) []sinkMessage {
	f, err := os.Open(s.dump)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []sinkMessage
	var cur *sinkMessage
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, recordStart):
			out = append(out, sinkMessage{})
			cur = &out[len(out)-1]
		case cur == nil:
		case strings.HasPrefix(line, "X-Rcpt-Args: "):
			cur.Rcpt = strings.Trim(strings.Fields(strings.TrimPrefix(line, "X-Rcpt-Args: "))[0], "<>")
		case strings.HasPrefix(line, "Subject: ") && cur.Subject == "":
			cur.Subject = strings.TrimPrefix(line, "Subject: ")
		case strings.HasPrefix(line, "Message-ID: ") && cur.MessageID == "":
			cur.MessageID = strings.TrimPrefix(line, "Message-ID: ")
		}
	}
	return out
}

func (s *smtpSink) byRecipient(t testing.TB) map[string][]sinkMessage {
	m := map[string][]sinkMessage{}
	for _, msg := range s.messages(t) {
		m[strings.ToLower(msg.Rcpt)] = append(m[strings.ToLower(msg.Rcpt)], msg)
	}
	return m
}

// checkSink: everyone delivered, personalised, with the ledger's
// Message-ID; duplicates only among rows reported in flight.
func checkSink(t *testing.T, w *workspace, s *smtpSink, rows int, allowDupInFlight bool) {
	t.Helper()
	got := s.byRecipient(t)
	report := w.report()
	dups := 0
	for i := 1; i <= rows; i++ {
		addr := fmt.Sprintf("user%d@example.com", i)
		msgs, r := got[addr], report[addr]
		if len(msgs) == 0 || r.State != "sent" {
			t.Errorf("%s: %d copies received, ledger state %q", addr, len(msgs), r.State)
			continue
		}
		if len(msgs) > 1 {
			dups++
			if !allowDupInFlight || r.Recovered == 0 {
				t.Errorf("%s: %d copies (recovered in flight: %d)", addr, len(msgs), r.Recovered)
			}
		}
		for _, m := range msgs {
			if want := fmt.Sprintf("Hello Name%d #%d", i, i); m.Subject != want || m.MessageID != "<"+r.MessageID+">" {
				t.Errorf("%s: got subject %q id %q, want %q and <%s>", addr, m.Subject, m.MessageID, want, r.MessageID)
			}
		}
	}
	if len(got) != rows {
		t.Errorf("sink saw %d distinct recipients, want %d", len(got), rows)
	}
	t.Logf("smtp-sink: %d messages for %d recipients, %d duplicated", len(s.messages(t)), rows, dups)
}

func TestSinkThousandExactlyOnce(t *testing.T) {
	s := startSink(t)
	w := newWorkspace(t, "127.0.0.1", s.port, 1000)
	w.mustRun(0, "send", "list.csv", "--connections", "10")
	checkSink(t, w, s, 1000, false)
}

// TestSinkWithoutPipelining: smtp-sink -p does not offer PIPELINING, so
// every command waits for its reply (go-smtp's own transaction).
func TestSinkWithoutPipelining(t *testing.T) {
	s := startSink(t, "-p")
	w := newWorkspace(t, "127.0.0.1", s.port, 1000)
	w.mustRun(0, "send", "list.csv", "--connections", "4")
	checkSink(t, w, s, 1000, false)
}

// TestSinkRejects: smtp-sink's hard (-f) and soft (-r) rejections of RCPT
// reach the ledger as failed and deferred, pipelined or not.
func TestSinkRejects(t *testing.T) {
	for _, mode := range [][]string{{"-f", "RCPT"}, {"-r", "RCPT"}, {"-p", "-f", "RCPT"}} {
		t.Run(strings.Join(mode, " "), func(t *testing.T) {
			s := startSink(t, mode...)
			w := newWorkspace(t, "127.0.0.1", s.port, 20)
			w.env = append(w.env, "MAILBLAST_RETRY_WAIT=0s")
			want, state := 0, "failed"
			if mode[0] == "-r" {
				want, state = 75, "deferred"
			}
			w.mustRun(want, "send", "list.csv", "--connections", "2")
			for addr, r := range w.report() {
				if r.State != state || r.Code/100 != map[string]int{"failed": 5, "deferred": 4}[state] {
					t.Errorf("%s: %+v, want %s", addr, r, state)
				}
			}
		})
	}
}

func TestSinkInterruptAndKill(t *testing.T) {
	const rows = 20000
	s := startSink(t)
	w := newWorkspace(t, "127.0.0.1", s.port, rows)
	if code := w.signalWhen(syscall.SIGINT, func() bool { return s.Count() >= 2000 }, "send", "list.csv", "--connections", "4"); code != 130 {
		t.Fatalf("SIGINT: exit %d, want 130", code)
	}
	if st := w.status(); st.Inflight != 0 || st.Sent != s.Count() {
		t.Fatalf("after SIGINT: %+v, sink has %d", st, s.Count())
	}
	if code := w.signalWhen(syscall.SIGKILL, func() bool { return s.Count() >= 8000 }, "resume"); code != -int(syscall.SIGKILL) {
		t.Fatalf("the resumed run ended (exit %d) before the kill", code)
	}
	w.mustRun(0, "resume")
	checkSink(t, w, s, rows, true)
}

// TestSinkStopsDuringImport: sending starts while the list is still being
// imported. An interrupt, then a kill -9, each land before the import ends
// (the sink has its first messages long before 60,000 rows are in); each
// next run takes the import up where it stopped, and everyone gets the
// message once, apart from rows reported in flight at the kill.
func TestSinkStopsDuringImport(t *testing.T) {
	const rows = 60000
	s := startSink(t)
	w := newWorkspace(t, "127.0.0.1", s.port, rows)
	if code := w.signalWhen(syscall.SIGINT, func() bool { return s.Count() >= 1 }, "send", "list.csv", "--connections", "4"); code != 130 {
		t.Fatalf("SIGINT: exit %d, want 130", code)
	}
	st := w.status()
	if st.Total >= rows {
		t.Fatalf("the import finished before the interrupt (%d rows): this test needs a longer list", st.Total)
	}
	if st.Inflight != 0 || st.Sent != s.Count() || st.Finished {
		t.Fatalf("after SIGINT: %+v, sink has %d; want unfinished", st, s.Count())
	}
	before := s.Count()
	if code := w.signalWhen(syscall.SIGKILL, func() bool { return s.Count() > before }, "resume"); code != -int(syscall.SIGKILL) {
		t.Fatalf("the resumed run ended (exit %d) before the kill", code)
	}
	t.Logf("interrupted with %d of %d rows imported; killed with %d messages at the sink", st.Total, rows, s.Count())
	w.mustRun(0, "resume")
	checkSink(t, w, s, rows, true)
}

// TestSinkSkipsAcrossImportChunks: on a list long enough to be imported in
// several commits while it is sent, a duplicate of a row in an earlier
// commit and an address suppressed beforehand are never sent.
func TestSinkSkipsAcrossImportChunks(t *testing.T) {
	const rows = 5000
	s := startSink(t)
	w := newWorkspace(t, "127.0.0.1", s.port, 0)
	var b strings.Builder
	b.WriteString("email,first_name,n\n")
	for i := 1; i <= rows; i++ {
		addr := fmt.Sprintf("user%d@example.com", i)
		if i == 4000 {
			addr = "USER7@example.com" // row 4001 duplicates row 8
		}
		fmt.Fprintf(&b, "%s,Name%d,%d\n", addr, i, i)
	}
	w.write("list.csv", b.String())
	w.mustRun(0, "suppress", "add", "user3000@example.com", "--reason", "asked")
	w.mustRun(0, "send", "list.csv", "--connections", "4")
	got := s.byRecipient(t)
	if n := len(got["user7@example.com"]); n != 1 {
		t.Errorf("user7 got %d messages, want 1", n)
	}
	if n := len(got["user3000@example.com"]); n != 0 {
		t.Errorf("the suppressed address got %d messages", n)
	}
	if len(got) != rows-2 {
		t.Errorf("%d recipients got mail, want %d", len(got), rows-2)
	}
	rep := w.report()
	if r := rep["user3000@example.com"]; r.State != "skipped" {
		t.Errorf("suppressed row: %+v", r)
	}
	if st := w.status(); st.Sent != rows-2 || st.Skipped != 2 || !st.Finished {
		t.Errorf("status %+v", st)
	}
}

// TestSinkListChangedDuringImport: the import reads the list as fast as the
// first pass sends. A list appended to once sending has begun stops the run
// (exit 65, naming the file) instead of sending rows nobody checked; what
// was sent is in the ledger.
func TestSinkListChangedDuringImport(t *testing.T) {
	const rows = 60000
	s := startSink(t)
	w := newWorkspace(t, "127.0.0.1", s.port, rows)
	c, _, errb := w.command("send", "list.csv", "--connections", "2")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); s.Count() < 1 && time.Now().Before(deadline); {
		time.Sleep(2 * time.Millisecond)
	}
	f, err := os.OpenFile(filepath.Join(w.dir, "list.csv"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "late@example.com,Late,%d\n", rows+1)
	f.Close()
	c.Wait()
	if code := c.ProcessState.ExitCode(); code != 65 || !strings.Contains(errb.String(), "modified while its rows were being imported") {
		t.Fatalf("exit %d, want 65 naming the change:\n%s", code, errb.String())
	}
	st := w.status()
	if st.Sent != s.Count() || st.Total >= rows || st.Finished {
		t.Fatalf("status %+v with %d at the sink: want every message recorded, the import unfinished", st, s.Count())
	}
	if len(s.byRecipient(t)["late@example.com"]) != 0 {
		t.Fatal("the appended row was sent")
	}
}
