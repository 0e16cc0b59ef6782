package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailblast/mailblast/sender/sendertest"
)

func hostileWorkspace(t *testing.T, r *sendertest.Hostile, rows int) *workspace {
	w := newWorkspace(t, "127.0.0.1", r.Port(), rows)
	w.env = append(w.env, "MAILBLAST_SMTP_TIMEOUT=2s", "MAILBLAST_SMTP_BACKOFF=50ms", "MAILBLAST_SMTP_CONNECT_ATTEMPTS=2")
	return w
}

// runWithin runs the binary and kills it after limit: a run that waits on
// a hostile relay forever fails the test instead of hanging it. It also
// returns the process's peak resident memory in bytes.
func runWithin(t *testing.T, w *workspace, limit time.Duration, args ...string) (stderr string, code int, maxRSS int64) {
	t.Helper()
	c, _, errb := w.command(args...)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(limit, func() { c.Process.Kill() })
	defer timer.Stop()
	stop := make(chan struct{})
	peak := make(chan int64)
	go func() { peak <- watchPeak(c.Process.Pid, stop) }()
	err := c.Wait()
	close(stop)
	maxRSS = <-peak
	if !timer.Stop() {
		t.Fatalf("mailblast %s still running after %s\n%s", strings.Join(args, " "), limit, errb)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return errb.String(), ee.ExitCode(), maxRSS
	} else if err != nil {
		t.Fatal(err)
	}
	return errb.String(), 0, maxRSS
}

// watchPeak samples the peak resident memory of process pid (VmHWM, which
// exec resets, unlike the rusage of a child forked from a big test binary)
// until stop is closed.
func watchPeak(pid int, stop <-chan struct{}) int64 {
	var most int64
	path := "/proc/" + strconv.Itoa(pid) + "/status"
	for {
		if b, err := os.ReadFile(path); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" {
					kb, _ := strconv.ParseInt(f[1], 10, 64)
					most = max(most, kb<<10)
				}
			}
		}
		select {
		case <-stop:
			return most
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// TestHostileThrottleAtSlowRate: with smtp.rate 30/m, a 421 lowers the
// rate; it never raises it to 1/s. The relay sees the messages no faster
// than the configured rate, retries included.
func TestHostileThrottleAtSlowRate(t *testing.T) {
	var mu sync.Mutex
	var arrived []time.Time
	srv := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{
		Rcpt: func(addr string, attempt int) *smtp.SMTPError {
			if addr == "user1@example.com" && attempt == 1 {
				return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 28}, Message: "slow down"}
			}
			return nil
		},
		Data: func([]string, []byte) *smtp.SMTPError {
			mu.Lock()
			defer mu.Unlock()
			arrived = append(arrived, time.Now())
			return nil
		},
	}})
	const rows = 4
	w := forServer(t, srv, rows)
	w.env = append(w.env, "MAILBLAST_SMTP_RATE=30/m")
	stderr, code, _ := runWithin(t, w, 90*time.Second, "send", "list.csv", "--retry-wait", "0s")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "relay is throttling") || strings.Contains(stderr, "rate now 1.0/s") {
		t.Errorf("the slow-down is not logged, or it raised the rate:\n%s", stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	// 30/m is one every 2 s: four messages need 6 s at least; a busy
	// machine only makes it slower.
	if len(arrived) != rows {
		t.Fatalf("%d arrived", len(arrived))
	}
	if span := arrived[rows-1].Sub(arrived[0]); span < 5400*time.Millisecond {
		t.Errorf("%d messages in %s: faster than the configured 30/m", rows, span)
	}
}

// TestHostileDrippingReply: a relay answering "250-still thinking" every
// half second holds nobody past smtp.timeout (2s): the recipient is
// deferred and the run ends, on go-smtp's path and on the pipelined one.
func TestHostileDrippingReply(t *testing.T) {
	for name, ext := range map[string][]string{"stepwise": nil, "pipelined": {"PIPELINING"}} {
		t.Run(name, func(t *testing.T) {
			r := sendertest.NewHostile(t, func(r *sendertest.Hostile, c net.Conn, in *bufio.Reader) {
				if r.Greet(c, in, ext...) != nil {
					return
				}
				if _, err := r.Line(in); err != nil {
					return
				}
				for r.Write(c, "250-still thinking\r\n") == nil {
					time.Sleep(500 * time.Millisecond)
				}
			})
			w := hostileWorkspace(t, r, 1)
			stderr, code, _ := runWithin(t, w, 60*time.Second, "send", "list.csv", "--retry-wait", "0s")
			if code != 75 {
				t.Fatalf("exit %d, want 75 (deferred): %s", code, stderr)
			}
			if rep := w.report()["user1@example.com"]; rep.State != "deferred" {
				t.Errorf("ledger: %+v", rep)
			}
		})
	}
}

// TestHostileDrippedGreeting: a greeting dripped a byte every 300 ms
// (7 s in all) is not accepted with a 2 s timeout; the relay counts as
// unavailable and never hears EHLO.
func TestHostileDrippedGreeting(t *testing.T) {
	r := sendertest.NewHostile(t, func(r *sendertest.Hostile, c net.Conn, in *bufio.Reader) {
		for _, b := range "220 slow.example ESMTP service\r\n" {
			if r.Write(c, string(b)) != nil {
				return
			}
			time.Sleep(300 * time.Millisecond)
		}
		r.Line(in)
	})
	w := hostileWorkspace(t, r, 1)
	stderr, code, _ := runWithin(t, w, 60*time.Second, "send", "list.csv", "--retry-wait", "0s")
	if code != 69 || r.Saw("EHLO") {
		t.Errorf("exit %d (want 69), EHLO sent %v: %s", code, r.Saw("EHLO"), stderr)
	}
}

// TestHostileEndlessLine: an endless reply line after a pipelined MAIL is
// cut off after a bounded amount: the process stays small and finishes,
// and the recipient is deferred.
func TestHostileEndlessLine(t *testing.T) {
	const most = 128 << 20 // what the relay sends at most, to spare the machine before the fix
	chunk := strings.Repeat("x", 64<<10)
	r := sendertest.NewHostile(t, func(r *sendertest.Hostile, c net.Conn, in *bufio.Reader) {
		if r.Greet(c, in, "PIPELINING") != nil {
			return
		}
		if _, err := r.Line(in); err != nil {
			return
		}
		r.Write(c, "250-")
		for r.Wrote() < most && r.Write(c, chunk) == nil {
		}
		io.Copy(io.Discard, c) // hold until the client hangs up
	})
	w := hostileWorkspace(t, r, 2)
	stderr, code, rss := runWithin(t, w, 90*time.Second, "send", "list.csv", "--retry-wait", "0s")
	if code != 75 {
		t.Fatalf("exit %d, want 75 (deferred): %s", code, stderr)
	}
	t.Logf("peak memory %d MB, relay wrote %d KB", rss>>20, r.Wrote()>>10)
	if rss > 64<<20 {
		t.Errorf("peak memory %d MB against an endless reply line", rss>>20)
	}
	if got := r.Wrote(); got >= most {
		t.Errorf("the client read all %d MB of the line", got>>20)
	}
}

// TestHostileLongReplyText: a 3 KB reply text is stored cut to about
// 1,000 bytes.
func TestHostileLongReplyText(t *testing.T) {
	long := ""
	for i := 0; i < 30; i++ {
		long += "451-4.3.0 " + strings.Repeat("z", 90) + "\r\n"
	}
	long += "451 4.3.0 try later\r\n"
	r := sendertest.NewHostile(t, func(r *sendertest.Hostile, c net.Conn, in *bufio.Reader) {
		if r.Greet(c, in) != nil {
			return
		}
		for {
			l, err := r.Line(in)
			if err != nil {
				return
			}
			switch v := strings.ToUpper(l); {
			case strings.HasPrefix(v, "RCPT"):
				r.Write(c, long)
			case strings.HasPrefix(v, "QUIT"):
				r.Write(c, "221 bye\r\n")
				return
			default:
				r.Write(c, "250 ok\r\n")
			}
		}
	})
	w := hostileWorkspace(t, r, 1)
	w.mustRun(75, "send", "list.csv", "--retry-wait", "0s")
	var row struct{ Reply string }
	json.Unmarshal([]byte(w.mustRun(0, "report", "--format", "json")), &row)
	if n := len(row.Reply); n < 500 || n > 1100 {
		t.Errorf("reply stored with %d bytes, want about 1,000: %q", n, row.Reply)
	}
}

// TestHostileSilentAfterDot: a relay that never answers the final dot gets
// each message once per attempt, and the ledger counts every transmission.
func TestHostileSilentAfterDot(t *testing.T) {
	var bodies atomic.Int64
	srv := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{SilentAfterDot: true,
		Data: func([]string, []byte) *smtp.SMTPError { bodies.Add(1); return nil }}})
	const rows = 10
	w := forServer(t, srv, rows)
	w.env = append(w.env, "MAILBLAST_SMTP_TIMEOUT=1s")
	stderr, code, _ := runWithin(t, w, 90*time.Second, "send", "list.csv", "--retry-wait", "0s")
	if code != 75 {
		t.Fatalf("exit %d, want 75: %s", code, stderr)
	}
	attempts := 0
	for addr, r := range w.report() {
		attempts += r.Attempts
		if r.State != "deferred" {
			t.Errorf("%s: %+v", addr, r)
		}
	}
	if n := bodies.Load(); int(n) != attempts || attempts != rows {
		t.Errorf("the relay received %d messages; the ledger counts %d attempts for %d recipients", n, attempts, rows)
	}
}

// TestHostileRefusingGreeting: a 554 greeting is the relay refusing us:
// exit 69 saying so, not 78 (configuration).
func TestHostileRefusingGreeting(t *testing.T) {
	r := sendertest.NewHostile(t, func(r *sendertest.Hostile, c net.Conn, in *bufio.Reader) {
		r.Write(c, "554 5.7.1 no service for you\r\n")
		r.Line(in)
	})
	w := hostileWorkspace(t, r, 1)
	stderr, code, _ := runWithin(t, w, 60*time.Second, "send", "list.csv", "--retry-wait", "0s")
	if code != 69 || !strings.Contains(stderr, "refuses") || !strings.Contains(stderr, "554") {
		t.Errorf("exit %d, want 69 saying the relay refuses us: %s", code, stderr)
	}
}

// TestHostileTLSToPlainRelay: smtp.tls: tls against a plain-text relay is a
// configuration error, reported at once.
func TestHostileTLSToPlainRelay(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 1)
	w.env = append(w.env, "MAILBLAST_SMTP_TLS=tls")
	stderr, code, _ := runWithin(t, w, 20*time.Second, "send", "list.csv", "--retry-wait", "0s")
	if code != 78 || !strings.Contains(stderr, "smtp.tls") {
		t.Errorf("exit %d, want 78 naming smtp.tls: %s", code, stderr)
	}
}

// TestHostileWrongPort: a refused connection is retried, and the run says
// so once, at the start, with the longest it will take.
func TestHostileWrongPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	w := newWorkspace(t, "127.0.0.1", port, 1)
	w.env = append(w.env, "MAILBLAST_SMTP_BACKOFF=50ms", "MAILBLAST_SMTP_CONNECT_ATTEMPTS=3")
	stderr, code, _ := runWithin(t, w, 60*time.Second, "send", "list.csv", "--retry-wait", "0s")
	if code != 69 || strings.Count(stderr, "retrying") != 1 || !strings.Contains(stderr, "at most") {
		t.Errorf("exit %d, want 69 and one line announcing the retries: %s", code, stderr)
	}
}
