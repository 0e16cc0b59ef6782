package sender_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailblast/mailblast/sender"
	"github.com/mailblast/mailblast/sender/sendertest"
)

// transaction is how messages go over a connection: one command at a
// time through go-smtp, pipelined with DATA, or pipelined with BDAT.
type transaction struct {
	name                 string
	pipelining, chunking sender.Toggle
	verbs                []string // the commands of one good message
}

var transactions = []transaction{
	{"stepwise", sender.Off, sender.Off, []string{"MAIL", "RCPT", "DATA"}},
	{"pipelined", "", sender.Off, []string{"MAIL", "RCPT", "DATA"}},
	{"chunked", "", "", []string{"MAIL", "RCPT", "BDAT"}},
}

var current = transactions[2]

func config(s *sendertest.Server, mode sender.TLSMode) sender.Config {
	return sender.Config{Settings: sender.Settings{Host: s.Host(), Port: s.Port(), TLS: mode, Connections: 2, Timeout: 5 * time.Second,
		Backoff: 10 * time.Millisecond, ConnectAttempts: 3,
		Pipelining: current.pipelining, Chunking: current.chunking, ThrottleRecover: 100 * time.Millisecond},
		BackoffMax: 50 * time.Millisecond}
}

// eachTransaction runs a test once per kind of transaction.
func eachTransaction(t *testing.T, test func(t *testing.T)) {
	for _, tr := range transactions {
		t.Run(tr.name, func(t *testing.T) {
			current = tr
			defer func() { current = transactions[2] }()
			test(t)
		})
	}
}

func trust(s *sendertest.Server) *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CertPEM())
	return &tls.Config{RootCAs: pool}
}

// sendAll runs n messages through a pool and returns each result by ID.
func sendAll(t *testing.T, cfg sender.Config, n int) (map[int]sender.Result, error) {
	t.Helper()
	p, err := sender.NewPool(cfg)
	if err != nil {
		t.Fatal(err)
	}
	in := make(chan *sender.Envelope, n)
	for i := 0; i < n; i++ {
		in <- &sender.Envelope{ID: i, From: "news@example.com", To: fmt.Sprintf("r%d@example.com", i),
			Data: []byte(fmt.Sprintf("Subject: %d\r\nMessage-ID: <%d@x>\r\n\r\nbody %d\r\n", i, i, i))}
	}
	close(in)
	var mu sync.Mutex
	res := map[int]sender.Result{}
	ctx := context.Background()
	err = p.Run(ctx, ctx, in, func(r sender.Result) {
		mu.Lock()
		defer mu.Unlock()
		if _, dup := res[r.Env.ID]; dup {
			t.Errorf("envelope %d reported twice", r.Env.ID)
		}
		res[r.Env.ID] = r
	})
	return res, err
}

func allSent(t *testing.T, res map[int]sender.Result, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if r, ok := res[i]; !ok || r.Err != nil || r.Released {
			t.Errorf("envelope %d: %+v", i, r)
		}
	}
}

func TestPlainKeepAlive(t *testing.T) {
	eachTransaction(t, func(t *testing.T) {
		s := sendertest.NewServer(t, sendertest.Options{})
		res, err := sendAll(t, config(s, sender.NoTLS), 50)
		if err != nil {
			t.Fatal(err)
		}
		allSent(t, res, 50)
		if s.Connections() > 2 || s.Count() != 50 {
			t.Errorf("%d connections, %d messages", s.Connections(), s.Count())
		}
		verbs := map[string]int{}
		for _, c := range s.Commands() {
			verbs[c]++
		}
		for _, v := range current.verbs {
			if verbs[v] != 50 {
				t.Errorf("%s sent %d times for 50 messages: %v", v, verbs[v], verbs)
			}
		}
		if verbs["RSET"] != 0 || verbs["EHLO"] > 2 || verbs["HELO"] > 0 {
			t.Errorf("session commands between good messages: %v", verbs)
		}
	})
}

func TestStartTLSAndAuth(t *testing.T) {
	eachTransaction(t, func(t *testing.T) {
		s := sendertest.NewServer(t, sendertest.Options{TLS: true, Username: "u", Password: "p"})
		cfg := config(s, sender.StartTLS)
		cfg.TLSConfig, cfg.Username, cfg.Password = trust(s), "u", "p"
		res, err := sendAll(t, cfg, 5)
		if err != nil {
			t.Fatal(err)
		}
		allSent(t, res, 5)
	})
}

func TestImplicitTLS(t *testing.T) {
	s := sendertest.NewServer(t, sendertest.Options{ImplicitTLS: true})
	cfg := config(s, sender.Implicit)
	cfg.TLSConfig = trust(s)
	res, err := sendAll(t, cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	allSent(t, res, 3)
}

// TestUnverifiedCertificateIsFatal: TLS is verified by default, and a
// certificate that does not verify stops the run instead of retrying.
func TestUnverifiedCertificateIsFatal(t *testing.T) {
	s := sendertest.NewServer(t, sendertest.Options{TLS: true})
	_, err := sendAll(t, config(s, sender.StartTLS), 3)
	var e *sender.Error
	if !errors.As(err, &e) || !e.Permanent || e.Command != "TLS" {
		t.Fatalf("err %v, want a permanent TLS error", err)
	}
	if s.Count() != 0 {
		t.Errorf("sent over an unverified connection")
	}
}

func TestNoPasswordOverPlaintext(t *testing.T) {
	s := sendertest.NewServer(t, sendertest.Options{Username: "u", Password: "p"})
	cfg := config(s, sender.NoTLS)
	cfg.Username, cfg.Password = "u", "hunter2"
	_, err := sendAll(t, cfg, 1)
	if !errors.Is(err, sender.ErrInsecureAuth) {
		t.Fatalf("err %v, want ErrInsecureAuth", err)
	}
}

func TestWrongPasswordIsFatal(t *testing.T) {
	s := sendertest.NewServer(t, sendertest.Options{TLS: true, Username: "u", Password: "p"})
	cfg := config(s, sender.StartTLS)
	cfg.TLSConfig, cfg.Username, cfg.Password = trust(s), "u", "wrong-hunter2"
	_, err := sendAll(t, cfg, 2)
	var e *sender.Error
	if !errors.As(err, &e) || e.Command != "AUTH" || !e.Permanent {
		t.Fatalf("err %v, want a permanent AUTH error", err)
	}
	if contains(err.Error(), "hunter2") {
		t.Fatalf("password in the error: %v", err)
	}
}

func contains(s, sub string) bool {
	return len(sub) > 0 && len(s) >= len(sub) && (s == sub || indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// TestReplyClasses: each reply lands in its class, with its codes.
func TestReplyClasses(t *testing.T) {
	eachTransaction(t, func(t *testing.T) {
		s := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{
			Rcpt: func(addr string, attempt int) *smtp.SMTPError {
				switch addr {
				case "r1@example.com":
					return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
				case "r2@example.com":
					return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "mailbox full"}
				}
				return nil
			},
			Data: func(rcpts []string, data []byte) *smtp.SMTPError {
				if rcpts[0] == "r3@example.com" {
					return &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Throttling failure"}
				}
				return nil
			},
		}})
		res, err := sendAll(t, config(s, sender.NoTLS), 5)
		if err != nil {
			t.Fatal(err)
		}
		check := func(id int, code int, enh string, permanent, throttle bool) {
			e := res[id].Err
			if e == nil || e.Code != code || e.Enhanced != enh || e.Permanent != permanent || e.Throttle() != throttle || e.Relay {
				t.Errorf("envelope %d: %+v", id, e)
			}
		}
		check(1, 550, "5.1.1", true, false)
		check(2, 452, "4.2.2", false, false)
		check(3, 454, "4.7.0", false, true)
		for _, id := range []int{0, 4} {
			if res[id].Err != nil {
				t.Errorf("envelope %d: %v", id, res[id].Err)
			}
		}
	})
}

// TestRelayTroubleRetriesOnNewConnection: 421 and a connection dropped in
// the middle of DATA are not the recipient's fault. A message refused
// before its content went out goes again on a fresh connection; one whose
// content went out is deferred, as is one unlucky three times in a row
// (the campaign retries them later), never failed; every reported success
// arrived exactly once.
func TestRelayTroubleRetriesOnNewConnection(t *testing.T) {
	eachTransaction(t, func(t *testing.T) {
		for name, c := range map[string]struct {
			f       sendertest.Faults
			atLeast int // sent: all but those dropped in DATA, and a margin
		}{
			"421 after 3":      {sendertest.Faults{Reply421AfterN: 3}, 25},
			"drop in DATA":     {sendertest.Faults{DropInDataEvery: 4}, 30 - 30/4 - 1},
			"421 and dropping": {sendertest.Faults{Reply421AfterN: 5, DropInDataEvery: 7}, 30 - 30/7 - 2},
		} {
			t.Run(name, func(t *testing.T) {
				s := sendertest.NewServer(t, sendertest.Options{Faults: c.f})
				res, err := sendAll(t, config(s, sender.NoTLS), 30)
				if err != nil {
					t.Fatal(err)
				}
				sent := 0
				for i := 0; i < 30; i++ {
					r, ok := res[i]
					switch {
					case !ok || r.Released:
						t.Errorf("envelope %d: not reported (%+v)", i, r)
					case r.Err == nil:
						sent++
						if n := len(s.ByRecipient()[fmt.Sprintf("r%d@example.com", i)]); n != 1 {
							t.Errorf("envelope %d reported sent, arrived %d times", i, n)
						}
					case r.Err.Permanent || !r.Err.Relay:
						t.Errorf("envelope %d: %v, want sent or relay trouble", i, r.Err)
					}
				}
				if s.Count() != sent || sent < c.atLeast {
					t.Errorf("%d reported sent, %d arrived", sent, s.Count())
				}
			})
		}
	})
}

// TestStalledRelayTimesOut: a relay that stops answering costs a timeout,
// not a hang; the message is deferred as relay trouble.
func TestStalledRelayTimesOut(t *testing.T) {
	eachTransaction(t, func(t *testing.T) {
		s := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{StallAfterN: 2}})
		cfg := config(s, sender.NoTLS)
		cfg.Timeout, cfg.Connections = 300*time.Millisecond, 1
		start := time.Now()
		res, err := sendAll(t, cfg, 4)
		if took := time.Since(start); took > 20*time.Second {
			t.Fatalf("took %s", took)
		}
		sent := 0
		for _, r := range res {
			if r.Err == nil && !r.Released {
				sent++
			}
		}
		if sent != 2 {
			t.Errorf("%d sent before the stall, want 2 (err %v)", sent, err)
		}
		for id, r := range res {
			if r.Err != nil && (!r.Err.Relay || r.Err.Permanent) {
				t.Errorf("envelope %d: %+v, want temporary relay trouble", id, r.Err)
			}
		}
	})
}

func TestRelayDownThenUp(t *testing.T) {
	s := sendertest.NewServer(t, sendertest.Options{})
	s.SetDown(true)
	cfg := config(s, sender.NoTLS)
	cfg.ConnectAttempts, cfg.Backoff, cfg.BackoffMax = 20, 20*time.Millisecond, 100*time.Millisecond
	time.AfterFunc(300*time.Millisecond, func() { s.SetDown(false) })
	res, err := sendAll(t, cfg, 10)
	if err != nil {
		t.Fatal(err)
	}
	allSent(t, res, 10)
}

func TestRelayDownGivesUp(t *testing.T) {
	s := sendertest.NewServer(t, sendertest.Options{})
	s.SetDown(true)
	res, err := sendAll(t, config(s, sender.NoTLS), 4)
	if !errors.Is(err, sender.ErrRelayUnavailable) {
		t.Fatalf("err %v, want ErrRelayUnavailable", err)
	}
	for id, r := range res {
		if r.Err != nil && r.Err.Permanent {
			t.Errorf("envelope %d failed permanently because the relay was down", id)
		}
	}
}

// TestMaxMessagesPerConnectionWhileChaining: a chain stops at the limit and
// the next message opens a new connection.
func TestMaxMessagesPerConnectionWhileChaining(t *testing.T) {
	eachTransaction(t, func(t *testing.T) {
		s := sendertest.NewServer(t, sendertest.Options{})
		cfg := config(s, sender.NoTLS)
		cfg.MaxMessagesPerConn, cfg.Connections = 5, 2
		res, err := sendAll(t, cfg, 40)
		if err != nil {
			t.Fatal(err)
		}
		allSent(t, res, 40)
		if m := s.MaxMessagesOnOneConn(); m > 5 {
			t.Errorf("%d messages on one connection, limit 5", m)
		}
		if c := s.Connections(); c < 8 {
			t.Errorf("%d connections for 40 messages at 5 each", c)
		}
	})
}
