package sender_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailblast/mailblast/sender"
	"github.com/mailblast/mailblast/sender/sendertest"
)

func hostileConfig(h *sendertest.Hostile) sender.Config {
	return sender.Config{Settings: sender.Settings{Host: "127.0.0.1", Port: h.Port(), TLS: sender.NoTLS, Connections: 1,
		Timeout: 500 * time.Millisecond, Backoff: 10 * time.Millisecond, ConnectAttempts: 2},
		BackoffMax: 50 * time.Millisecond}
}

// within runs sendAll and fails the test if it takes longer than limit.
func within(t *testing.T, limit time.Duration, cfg sender.Config, n int) (map[int]sender.Result, error) {
	t.Helper()
	type out struct {
		res map[int]sender.Result
		err error
	}
	done := make(chan out, 1)
	go func() {
		res, err := sendAll(t, cfg, n)
		done <- out{res, err}
	}()
	select {
	case o := <-done:
		return o.res, o.err
	case <-time.After(limit):
		t.Fatalf("still waiting on the relay after %s", limit)
		return nil, nil
	}
}

func wantDeferred(t *testing.T, res map[int]sender.Result, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		r, ok := res[i]
		if !ok || r.Released || r.Err == nil || r.Err.Permanent || !r.Err.Relay {
			t.Errorf("envelope %d: %+v, want deferred for relay trouble", i, r)
		}
	}
}

// TestDrippedReplyTimesOut: smtp.timeout bounds a whole reply, not each
// read. A relay that sends "250-still thinking" forever, a line at a time
// well within the timeout, is given up on, on go-smtp's path and on the
// pipelined one.
func TestDrippedReplyTimesOut(t *testing.T) {
	for name, ext := range map[string][]string{"stepwise": nil, "pipelined": {"PIPELINING"}} {
		t.Run(name, func(t *testing.T) {
			h := sendertest.NewHostile(t, func(h *sendertest.Hostile, c net.Conn, r *bufio.Reader) {
				if h.Greet(c, r, ext...) != nil {
					return
				}
				if _, err := h.Line(r); err != nil { // MAIL
					return
				}
				for h.Write(c, "250-still thinking\r\n") == nil {
					time.Sleep(100 * time.Millisecond)
				}
			})
			res, _ := within(t, 20*time.Second, hostileConfig(h), 1)
			wantDeferred(t, res, 1)
		})
	}
}

// TestDrippedGreetingRefused: a greeting dripped a byte at a time is not
// waited for beyond the timeout; EHLO is never sent.
func TestDrippedGreetingRefused(t *testing.T) {
	h := sendertest.NewHostile(t, func(h *sendertest.Hostile, c net.Conn, r *bufio.Reader) {
		for _, b := range "220 slow.example ESMTP\r\n" {
			if h.Write(c, string(b)) != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		h.Line(r)
	})
	_, err := within(t, 20*time.Second, hostileConfig(h), 1)
	if !errors.Is(err, sender.ErrRelayUnavailable) {
		t.Errorf("err %v, want ErrRelayUnavailable", err)
	}
	if h.Saw("EHLO") {
		t.Errorf("a greeting that took 2.4 s was accepted with a 0.5 s timeout")
	}
}

// TestEndlessReply: a reply line without end, or a reply of endless short
// lines, is cut off after a bounded amount instead of growing the process.
func TestEndlessReply(t *testing.T) {
	const most = 64 << 20 // what the relay sends at most: enough to notice
	endless := func(h *sendertest.Hostile, c net.Conn, line string) {
		for h.Wrote() < most && h.Write(c, line) == nil {
		}
		io.Copy(io.Discard, c) // hold until the client hangs up
	}
	long := strings.Repeat("x", 64<<10)
	cases := map[string]func(h *sendertest.Hostile, c net.Conn, r *bufio.Reader){
		"endless line after pipelined MAIL": func(h *sendertest.Hostile, c net.Conn, r *bufio.Reader) {
			if h.Greet(c, r, "PIPELINING") != nil {
				return
			}
			if _, err := h.Line(r); err == nil {
				h.Write(c, "250-")
				endless(h, c, long)
			}
		},
		"endless lines to EHLO": func(h *sendertest.Hostile, c net.Conn, r *bufio.Reader) {
			h.Write(c, "220 hostile.example ESMTP\r\n")
			if _, err := h.Line(r); err == nil {
				endless(h, c, "250-"+strings.Repeat("y", 200)+"\r\n")
			}
		},
	}
	for name, serve := range cases {
		t.Run(name, func(t *testing.T) {
			h := sendertest.NewHostile(t, serve)
			cfg := hostileConfig(h)
			cfg.ConnectAttempts = 1
			within(t, 30*time.Second, cfg, 1)
			if w := h.Wrote(); w >= most {
				t.Errorf("the client read all %d MB of an endless reply", w>>20)
			}
		})
	}
}

// TestSilentAfterDotNotResent: when the reply to the final dot never comes,
// the relay may have the message: it is deferred, never sent again within
// the same attempt, and each transmission is one reported result.
func TestSilentAfterDotNotResent(t *testing.T) {
	eachTransaction(t, func(t *testing.T) {
		var bodies atomic.Int64
		s := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{SilentAfterDot: true,
			Data: func([]string, []byte) *smtp.SMTPError { bodies.Add(1); return nil }}})
		cfg := config(s, sender.NoTLS)
		cfg.Timeout, cfg.Connections = 500*time.Millisecond, 1
		res, err := within(t, 30*time.Second, cfg, 3)
		if err != nil {
			t.Fatal(err)
		}
		wantDeferred(t, res, 3)
		if n := bodies.Load(); n != 3 {
			t.Errorf("the relay received %d messages for 3 reported attempts", n)
		}
	})
}

// TestRefusingGreeting: a 554 greeting is the relay refusing us, not a
// configuration error; it is not retried.
func TestRefusingGreeting(t *testing.T) {
	h := sendertest.NewHostile(t, func(h *sendertest.Hostile, c net.Conn, r *bufio.Reader) {
		h.Write(c, "554 5.7.1 no service for you\r\n")
		h.Line(r)
	})
	cfg := hostileConfig(h)
	cfg.ConnectAttempts = 5
	_, err := within(t, 20*time.Second, cfg, 2)
	if !errors.Is(err, sender.ErrRelayUnavailable) || !strings.Contains(err.Error(), "refuses") {
		t.Errorf("err %v, want ErrRelayUnavailable saying the relay refuses us", err)
	}
	if n := h.Conns(); n != 1 {
		t.Errorf("%d connections to a relay that refused us", n)
	}
}

// TestImplicitTLSToPlainRelay: smtp.tls: tls against a plain-text relay is
// a configuration error, reported at once, not an unavailable relay.
func TestImplicitTLSToPlainRelay(t *testing.T) {
	s := sendertest.NewServer(t, sendertest.Options{})
	cfg := config(s, sender.Implicit)
	cfg.ConnectAttempts = 5
	_, err := within(t, 20*time.Second, cfg, 1)
	var e *sender.Error
	if !errors.As(err, &e) || !e.Permanent || e.Command != "TLS" || errors.Is(err, sender.ErrRelayUnavailable) {
		t.Fatalf("err %v, want a permanent TLS error", err)
	}
	if n := s.Connections(); n > cfg.Connections {
		t.Errorf("%d connections: retried a configuration error", n)
	}
}

// TestConnectRetryIsLogged: the first failed connect says what is retried
// and for how long at most.
func TestConnectRetryIsLogged(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	var mu sync.Mutex
	var logs []string
	cfg := sender.Config{Settings: sender.Settings{Host: "127.0.0.1", Port: port, TLS: sender.NoTLS, Connections: 2,
		Timeout: time.Second, Backoff: 10 * time.Millisecond, ConnectAttempts: 3},
		BackoffMax: 20 * time.Millisecond,
		Logf: func(f string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			logs = append(logs, fmt.Sprintf(f, args...))
		}}
	if _, err := within(t, 20*time.Second, cfg, 1); !errors.Is(err, sender.ErrRelayUnavailable) {
		t.Fatalf("err %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	retrying := 0
	for _, l := range logs {
		if strings.Contains(l, "retrying") && strings.Contains(l, "at most") {
			retrying++
		}
	}
	if retrying != 1 {
		t.Errorf("%d lines announce the retrying, want 1: %q", retrying, logs)
	}
}

// TestReplyTextBounded: a huge reply text is cut where the error is built,
// so nothing downstream (the ledger) stores more.
func TestReplyTextBounded(t *testing.T) {
	e := sender.Classify("RCPT", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: strings.Repeat("é", 100_000)})
	if len(e.Message) > sender.MaxReplyText || len(e.Error()) > sender.MaxReplyText+40 {
		t.Errorf("reply text kept %d bytes (error %d), limit %d", len(e.Message), len(e.Error()), sender.MaxReplyText)
	}
	if !strings.HasPrefix(e.Message, "éé") || !strings.HasSuffix(e.Message, "...") {
		t.Errorf("cut text %q...", e.Message[:20])
	}
}

// TestIdleCloseIsNotThrottling: 421 4.4.2 (idle timeout) closes a channel
// but says nothing about our rate.
func TestIdleCloseIsNotThrottling(t *testing.T) {
	idle := &sender.Error{Code: 421, Enhanced: "4.4.2", Relay: true}
	slow := &sender.Error{Code: 421, Enhanced: "4.7.0", Relay: true}
	if idle.Throttle() || !slow.Throttle() {
		t.Errorf("idle close throttle %v, 4.7.0 throttle %v", idle.Throttle(), slow.Throttle())
	}
}

// TestGiveUpAfter: with the defaults (smtp.timeout 1m, backoff 1s doubling
// to 30s, 8 attempts) a relay that accepts connections and never speaks
// holds a run 4 minutes at most, as the README says.
func TestGiveUpAfter(t *testing.T) {
	cfg := sender.Config{Settings: sender.DefaultSettings(), BackoffMax: sender.BackoffMax}
	if got := cfg.GiveUpAfter(); got != 4*time.Minute {
		t.Errorf("GiveUpAfter %s, want 4m0s", got)
	}
}

// TestSilentRelayGivesUp: a relay that accepts connections and says
// nothing is given up on within GiveUpAfter (and some slack for a busy
// machine).
func TestSilentRelayGivesUp(t *testing.T) {
	h := sendertest.NewHostile(t, func(h *sendertest.Hostile, c net.Conn, r *bufio.Reader) { io.Copy(io.Discard, c) })
	cfg := hostileConfig(h)
	cfg.ConnectAttempts, cfg.Connections = 4, 2
	start := time.Now()
	_, err := within(t, 20*time.Second, cfg, 2)
	if !errors.Is(err, sender.ErrRelayUnavailable) {
		t.Fatalf("err %v", err)
	}
	if took, most := time.Since(start), cfg.GiveUpAfter(); took > most+2*time.Second {
		t.Errorf("gave up after %s, promised %s", took, most)
	}
}
