package imapfetch_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailblast/mailblast/feedback/imapfetch"
	"github.com/mailblast/mailblast/sender"
)

// flood writes chunk to w until the client hangs up or limit bytes went,
// and returns how many bytes went.
func flood(w *bufio.Writer, chunk []byte, limit int64) int64 {
	var sent int64
	for sent < limit {
		if _, err := w.Write(chunk); err != nil {
			break
		}
		if err := w.Flush(); err != nil {
			break
		}
		sent += int64(len(chunk))
	}
	return sent
}

func hostileConfig(ln net.Listener, mode sender.TLSMode) imapfetch.Config {
	return imapfetch.Config{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, TLS: mode,
		Username: "u", Password: "p", Mailbox: "INBOX", Processed: "done"}
}

func listen(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// wantLimit checks that err is a pass cut short for the reason given: a
// temporary failure (exit 75).
func wantLimit(t *testing.T, err error, reason string) {
	t.Helper()
	var le *imapfetch.LimitError
	if !errors.As(err, &le) || !errors.Is(err, imapfetch.ErrUnreachable) || !strings.Contains(le.Reason, reason) {
		t.Fatalf("error %v, want a LimitError saying %q", err, reason)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Fatalf("error is more than one line: %q", err)
	}
}

// A greeting that never ends (before TLS, with starttls: anyone on the
// path can send it) is cut at MaxBeforeLogin, not read until memory or
// the clock runs out.
func TestEndlessGreetingIsCut(t *testing.T) {
	for _, mode := range []sender.TLSMode{sender.NoTLS, sender.StartTLS} {
		t.Run(mode.String(), func(t *testing.T) {
			ln := listen(t)
			sent := make(chan int64, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				w := bufio.NewWriter(c)
				w.WriteString("* OK ")
				sent <- flood(w, bytes.Repeat([]byte("x"), 1<<20), 512<<20)
			}()
			_, err := imapfetch.Dial(context.Background(), hostileConfig(ln, mode))
			wantLimit(t, err, "before the login")
			if n := <-sent; n > 16<<20 {
				t.Fatalf("the client read on until the server had sent %d MiB", n>>20)
			}
		})
	}
}

// loggedIn serves a mailbox of one message whose commands hook may answer,
// to a session with an idle timeout of 1 s and a pass timeout of pass.
func loggedIn(t *testing.T, pass time.Duration, hook func(tag, up string, w *bufio.Writer) bool) (*imapfetch.Session, *scripted) {
	ln := listen(t)
	srv := &scripted{ln: ln, bodies: [][]byte{[]byte("Subject: x\r\n\r\nx\r\n")}, gate: make(chan struct{}, 1), hook: hook}
	go srv.serve(t)
	cfg := hostileConfig(ln, sender.NoTLS)
	cfg.IdleTimeout, cfg.PassTimeout = time.Second, pass
	s, err := imapfetch.Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, srv
}

// run is one pass that must end within 40 s.
func run(t *testing.T, s *imapfetch.Session) error {
	t.Helper()
	st, err := imapfetch.LoadState(filepath.Join(t.TempDir(), "fetch.json"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Run(context.Background(), st, false, func(context.Context, imapfetch.Message) (bool, error) { return false, nil })
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(40 * time.Second):
		t.Fatal("the pass still runs after 40 s")
		return nil
	}
}

// After login a line may hold a message, no more: a response line
// without end is cut at MaxLine.
func TestEndlessLineAfterLoginIsCut(t *testing.T) {
	var sent atomic.Int64
	s, _ := loggedIn(t, time.Minute, func(tag, up string, w *bufio.Writer) bool { // -race reads slowly
		if !strings.HasPrefix(up, "SELECT") {
			return false
		}
		w.WriteString("* OK ")
		sent.Store(flood(w, bytes.Repeat([]byte("x"), 1<<20), imapfetch.MaxLine+32<<20))
		return true
	})
	wantLimit(t, run(t, s), "a line longer than")
	if n := sent.Load(); n > imapfetch.MaxLine+16<<20 {
		t.Fatalf("the client read on until the server had sent %d MiB", n>>20)
	}
}

// A FETCH answered by responses without end (here the flags of one
// message, again and again) ends the pass at the batch size and a margin.
func TestEndlessFetchResponsesEndThePass(t *testing.T) {
	for _, cmd := range []string{"RFC822.SIZE", "BODY.PEEK[]"} {
		t.Run(cmd, func(t *testing.T) {
			s, _ := loggedIn(t, 3*time.Second, func(tag, up string, w *bufio.Writer) bool {
				if !strings.Contains(up, cmd) {
					return false
				}
				flood(w, []byte("* 1 FETCH (UID 1 FLAGS (\\Seen))\r\n"), 1<<40)
				return true
			})
			wantLimit(t, run(t, s), "FETCH responses during a UID FETCH")
		})
	}
}

// A server that stops sending in the middle of a message ends the pass
// after the idle timeout; one that sends a byte now and then, after the
// pass timeout.
func TestSlowServerEndsThePass(t *testing.T) {
	for name, drip := range map[string]time.Duration{"silent": 0, "dripping": 200 * time.Millisecond} {
		t.Run(name, func(t *testing.T) {
			s, _ := loggedIn(t, 3*time.Second, func(tag, up string, w *bufio.Writer) bool {
				if !strings.Contains(up, "BODY.PEEK[]") {
					return false
				}
				fmt.Fprintf(w, "* 1 FETCH (UID 1 BODY[] {1000000}\r\n")
				if name == "silent" {
					w.Flush()
					time.Sleep(5 * time.Second)
					return true
				}
				for w.Flush() == nil {
					w.WriteString("x")
					time.Sleep(drip)
				}
				return true
			})
			want := map[string]string{"silent": "sent nothing for 1s", "dripping": "took longer than feedback.imap.timeout (3s)"}
			wantLimit(t, run(t, s), want[name])
		})
	}
}

// A message handed on before the pass was cut stays handled (its events
// applied): the cut comes after, as an error of the pass.
func TestCutPassKeepsWhatWasHandled(t *testing.T) {
	s, _ := loggedIn(t, 3*time.Second, func(tag, up string, w *bufio.Writer) bool {
		if !strings.Contains(up, "BODY.PEEK[]") {
			return false
		}
		body := "Subject: x\r\n\r\nx\r\n"
		fmt.Fprintf(w, "* 1 FETCH (UID 1 BODY[] {%d}\r\n%s)\r\n", len(body), body)
		flood(w, []byte("* 1 FETCH (UID 1 FLAGS (\\Seen))\r\n"), 1<<40)
		return true
	})
	st, err := imapfetch.LoadState(filepath.Join(t.TempDir(), "fetch.json"))
	if err != nil {
		t.Fatal(err)
	}
	var handled []uint32
	res, err := s.Run(context.Background(), st, false, func(_ context.Context, m imapfetch.Message) (bool, error) {
		handled = append(handled, m.UID)
		return true, nil
	})
	wantLimit(t, err, "FETCH responses during a UID FETCH")
	if len(handled) != 1 || res.Examined != 1 {
		t.Fatalf("handled %v (%+v), want UID 1 once", handled, res)
	}
}
