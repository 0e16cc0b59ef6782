package sendertest_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mailblast/mailblast/sender/sendertest"
)

const timeout = 5 * time.Second

// dial connects a go-smtp client that is closed at the end of the test.
func dial(t *testing.T, s *sendertest.Server) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	return prepare(t, c)
}

func prepare(t *testing.T, c *smtp.Client) *smtp.Client {
	c.CommandTimeout = timeout
	c.SubmissionTimeout = timeout
	t.Cleanup(func() { c.Close() })
	return c
}

func message(id, subject string) string {
	return "From: <sender@example.com>\r\n" +
		"Subject: " + subject + "\r\n" +
		"Message-ID: <" + id + "@example.com>\r\n" +
		"\r\n" +
		"Hello.\r\n" +
		".A line that starts with a dot.\r\n" +
		"RSET\r\n" + // not a command: inside the body
		"QUIT\r\n"
}

func send(c *smtp.Client, from string, to []string, msg string) error {
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return err
	}
	return w.Close()
}

func mustSend(t *testing.T, c *smtp.Client, to ...string) {
	t.Helper()
	if err := send(c, "sender@example.com", to, message("x", "x")); err != nil {
		t.Fatalf("send to %v: %v", to, err)
	}
}

func mustQuit(t *testing.T, c *smtp.Client) {
	t.Helper()
	if err := c.Quit(); err != nil {
		t.Fatalf("QUIT: %v", err)
	}
}

// wantReply checks that err is the SMTP reply code enh.
func wantReply(t *testing.T, err error, code int, enh smtp.EnhancedCode) {
	t.Helper()
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		t.Fatalf("got error %v, want SMTP reply %d %v", err, code, enh)
	}
	if se.Code != code || se.EnhancedCode != enh {
		t.Fatalf("got reply %d %v %q, want %d %v", se.Code, se.EnhancedCode, se.Message, code, enh)
	}
}

// wantDropped checks that err is a broken connection, not an SMTP reply.
func wantDropped(t *testing.T, err error) {
	t.Helper()
	var se *smtp.SMTPError
	if err == nil || errors.As(err, &se) {
		t.Fatalf("got %v, want a dropped connection", err)
	}
}

func wantTimeout(t *testing.T, err error) {
	t.Helper()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("got %v, want a timeout", err)
	}
}

func wantCommands(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("commands:\n got %v\nwant %v", got, want)
	}
}

func TestRecording(t *testing.T) {
	s := sendertest.NewServer(t, sendertest.Options{})
	if s.Host() != "127.0.0.1" || s.Addr() != fmt.Sprintf("127.0.0.1:%d", s.Port()) {
		t.Errorf("Host %q, Port %d, Addr %q", s.Host(), s.Port(), s.Addr())
	}

	c := dial(t, s)
	first := message("one", "First")
	if err := send(c, "sender@example.com", []string{"Bob@Example.com", "carol@example.com"}, first); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "other@example.com", []string{"bob@example.com"}, message("two", "  Second  ")); err != nil {
		t.Fatal(err)
	}
	mustQuit(t, c)
	c = dial(t, s)
	mustSend(t, c, "dave@example.com")
	mustQuit(t, c)

	if s.Count() != 3 || s.Connections() != 2 || s.MaxMessagesOnOneConn() != 2 {
		t.Errorf("Count %d, Connections %d, MaxMessagesOnOneConn %d; want 3, 2, 2",
			s.Count(), s.Connections(), s.MaxMessagesOnOneConn())
	}
	msgs := s.Messages()
	if len(msgs) != 3 {
		t.Fatalf("%d messages, want 3", len(msgs))
	}
	m := msgs[0]
	if m.From != "sender@example.com" || !slices.Equal(m.To, []string{"Bob@Example.com", "carol@example.com"}) ||
		m.MessageID != "<one@example.com>" || m.Subject != "First" || m.Conn != 1 {
		t.Errorf("first message: %+v", m)
	}
	if string(m.Data) != first {
		t.Errorf("data:\n got %q\nwant %q", m.Data, first)
	}
	if msgs[1].From != "other@example.com" || msgs[1].Subject != "Second" || msgs[1].Conn != 1 || msgs[2].Conn != 2 {
		t.Errorf("messages 2 and 3: %+v %+v", msgs[1], msgs[2])
	}

	msgs[0].To[0] = "changed"
	if s.Messages()[0].To[0] != "Bob@Example.com" {
		t.Error("Messages does not return a copy")
	}

	byRcpt := s.ByRecipient()
	if len(byRcpt) != 3 || len(byRcpt["bob@example.com"]) != 2 || len(byRcpt["carol@example.com"]) != 1 ||
		len(byRcpt["dave@example.com"]) != 1 {
		t.Errorf("ByRecipient: %v", byRcpt)
	}
	if byRcpt["bob@example.com"][1].MessageID != "<two@example.com>" {
		t.Errorf("bob's second message: %+v", byRcpt["bob@example.com"][1])
	}

	wantCommands(t, s.Commands(),
		"EHLO", "MAIL", "RCPT", "RCPT", "DATA", "MAIL", "RCPT", "DATA", "QUIT",
		"EHLO", "MAIL", "RCPT", "DATA", "QUIT")
	wantCommands(t, s.CommandsOnConn(2), "EHLO", "MAIL", "RCPT", "DATA", "QUIT")
}

func TestRcptFault(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	s := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{
		Rcpt: func(addr string, attempt int) *smtp.SMTPError {
			mu.Lock()
			seen = append(seen, fmt.Sprintf("%s#%d", addr, attempt))
			mu.Unlock()
			switch {
			case strings.EqualFold(addr, "grey@example.com") && attempt == 1:
				return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "Greylisted"}
			case addr == "bad@example.com":
				return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
			}
			return nil
		},
	}})
	c := dial(t, s)
	if err := c.Mail("sender@example.com", nil); err != nil {
		t.Fatal(err)
	}
	wantReply(t, c.Rcpt("grey@example.com", nil), 451, smtp.EnhancedCode{4, 7, 1})
	wantReply(t, c.Rcpt("bad@example.com", nil), 550, smtp.EnhancedCode{5, 1, 1})
	if err := c.Rcpt("ok@example.com", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, message("a", "a"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	mustSend(t, c, "GREY@example.com") // second attempt, case-insensitively

	msgs := s.Messages()
	if len(msgs) != 2 || !slices.Equal(msgs[0].To, []string{"ok@example.com"}) ||
		!slices.Equal(msgs[1].To, []string{"GREY@example.com"}) {
		t.Errorf("messages: %+v", msgs)
	}
	mu.Lock()
	defer mu.Unlock()
	wantCommands(t, seen, "grey@example.com#1", "bad@example.com#1", "ok@example.com#1", "GREY@example.com#2")
}

func TestDataFault(t *testing.T) {
	var gotRcpts []string
	s := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{
		Data: func(rcpts []string, data []byte) *smtp.SMTPError {
			if bytes.Contains(data, []byte("Subject: spam")) {
				gotRcpts = rcpts
				return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Looks like spam"}
			}
			return nil
		},
	}})
	c := dial(t, s)
	err := send(c, "sender@example.com", []string{"a@example.com", "b@example.com"}, message("1", "spam"))
	wantReply(t, err, 554, smtp.EnhancedCode{5, 7, 1})
	if err := send(c, "sender@example.com", []string{"a@example.com"}, message("2", "ham")); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gotRcpts, []string{"a@example.com", "b@example.com"}) {
		t.Errorf("Data fault got recipients %v", gotRcpts)
	}
	if msgs := s.Messages(); len(msgs) != 1 || msgs[0].Subject != "ham" {
		t.Errorf("messages: %+v", msgs)
	}
}

func TestReply421AfterN(t *testing.T) {
	s := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{Reply421AfterN: 2}})
	c := dial(t, s)
	mustSend(t, c, "a@example.com")
	mustSend(t, c, "b@example.com")
	err := c.Mail("sender@example.com", nil)
	wantReply(t, err, 421, smtp.EnhancedCode{4, 7, 0})
	wantDropped(t, c.Noop())

	c = dial(t, s)
	mustSend(t, c, "c@example.com")
	if s.Count() != 3 || s.MaxMessagesOnOneConn() != 2 || s.Connections() != 2 {
		t.Errorf("Count %d, MaxMessagesOnOneConn %d, Connections %d; want 3, 2, 2",
			s.Count(), s.MaxMessagesOnOneConn(), s.Connections())
	}
}

func TestDropInData(t *testing.T) {
	s := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{DropInDataEvery: 2}})
	c := dial(t, s)
	mustSend(t, c, "a@example.com")
	wantDropped(t, send(c, "sender@example.com", []string{"b@example.com"}, message("2", "dropped")))

	c = dial(t, s)
	mustSend(t, c, "c@example.com")
	wantDropped(t, send(c, "sender@example.com", []string{"d@example.com"}, message("4", "dropped")))

	var to []string
	for _, m := range s.Messages() {
		to = append(to, m.To...)
	}
	wantCommands(t, to, "a@example.com", "c@example.com")
}

func TestStall(t *testing.T) {
	s := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{StallAfterN: 1}})
	c := dial(t, s)
	mustSend(t, c, "a@example.com")

	c.CommandTimeout = 200 * time.Millisecond
	wantTimeout(t, c.Mail("sender@example.com", nil))

	c2 := dial(t, s)
	c2.CommandTimeout = 200 * time.Millisecond
	wantTimeout(t, c2.Hello("client.example.com")) // no greeting

	start := time.Now()
	s.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v with stalled connections", d)
	}
	if s.Count() != 1 || s.Connections() != 2 {
		t.Errorf("Count %d, Connections %d; want 1, 2", s.Count(), s.Connections())
	}
}

// TestSilentAfterDot: the body is read whole and handed to Data, the final
// dot gets no reply, and the connection is released when the client hangs
// up.
func TestSilentAfterDot(t *testing.T) {
	var bodies sync.WaitGroup
	bodies.Add(1)
	s := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{SilentAfterDot: true,
		Data: func([]string, []byte) *smtp.SMTPError { bodies.Done(); return nil }}})
	c := dial(t, s)
	c.SubmissionTimeout = 200 * time.Millisecond
	wantTimeout(t, send(c, "sender@example.com", []string{"a@example.com"}, message("1", "silent")))
	bodies.Wait() // Data saw it
	c.Close()
	start := time.Now()
	s.Close()
	if d := time.Since(start); d > 2*time.Second || s.Count() != 0 {
		t.Errorf("Close took %v; %d recorded, want 0", d, s.Count())
	}
}

func TestDown(t *testing.T) {
	s := sendertest.NewServer(t, sendertest.Options{})
	open := dial(t, s)
	if err := open.Hello("client.example.com"); err != nil {
		t.Fatal(err)
	}

	s.SetDown(true)
	c := dial(t, s)
	wantReply(t, c.Hello("client.example.com"), 421, smtp.EnhancedCode{4, 3, 2})
	wantReply(t, open.Mail("sender@example.com", nil), 421, smtp.EnhancedCode{4, 3, 2})
	wantDropped(t, open.Noop())

	s.SetDown(false)
	c = dial(t, s)
	mustSend(t, c, "a@example.com")
	if s.Count() != 1 || s.Connections() != 3 {
		t.Errorf("Count %d, Connections %d; want 1, 3", s.Count(), s.Connections())
	}
}

func TestStartTLS(t *testing.T) {
	s := sendertest.NewServer(t, sendertest.Options{TLS: true})
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.CertPEM()) {
		t.Fatalf("CertPEM is not PEM: %q", s.CertPEM())
	}

	plain := dial(t, s)
	if ok, _ := plain.Extension("STARTTLS"); !ok {
		t.Error("STARTTLS not offered")
	}
	mustQuit(t, plain)

	c, err := smtp.DialStartTLS(s.Addr(), &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	prepare(t, c)
	mustSend(t, c, "a@example.com")
	if _, ok := c.TLSConnectionState(); !ok {
		t.Error("client is not on TLS")
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("STARTTLS offered again on TLS")
	}
	mustQuit(t, c)
	wantCommands(t, s.CommandsOnConn(2), "EHLO", "STARTTLS", "EHLO", "MAIL", "RCPT", "DATA", "QUIT")

	// Without the certificate in the pool the handshake fails.
	untrusted, err := smtp.DialStartTLS(s.Addr(), &tls.Config{RootCAs: x509.NewCertPool()})
	if err == nil {
		prepare(t, untrusted)
		err = untrusted.Noop()
	}
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &verr) {
		t.Errorf("untrusted certificate: got %v, want a verification error", err)
	}
}

func TestImplicitTLS(t *testing.T) {
	s := sendertest.NewServer(t, sendertest.Options{ImplicitTLS: true})
	c, err := smtp.DialTLS(s.Addr(), s.ClientTLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	prepare(t, c)
	mustSend(t, c, "a@example.com")
	if _, ok := c.TLSConnectionState(); !ok {
		t.Error("client is not on TLS")
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("STARTTLS offered on implicit TLS")
	}
	mustQuit(t, c)
	wantCommands(t, s.Commands(), "EHLO", "MAIL", "RCPT", "DATA", "QUIT")

	s.SetDown(true)
	c, err = smtp.DialTLS(s.Addr(), s.ClientTLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	prepare(t, c)
	wantReply(t, c.Hello("client.example.com"), 421, smtp.EnhancedCode{4, 3, 2})
}

func TestAuth(t *testing.T) {
	const user, pass = "user", "secret"
	s := sendertest.NewServer(t, sendertest.Options{TLS: true, Username: user, Password: pass})
	dialTLS := func(t *testing.T) *smtp.Client {
		c, err := smtp.DialStartTLS(s.Addr(), s.ClientTLSConfig())
		if err != nil {
			t.Fatal(err)
		}
		return prepare(t, c)
	}

	t.Run("not on plaintext", func(t *testing.T) {
		c := dial(t, s)
		if err := c.Hello("client.example.com"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := c.Extension("AUTH"); ok {
			t.Error("AUTH offered before STARTTLS")
		}
		wantReply(t, c.Mail("sender@example.com", nil), 530, smtp.EnhancedCode{5, 7, 0})
	})
	t.Run("PLAIN", func(t *testing.T) {
		c := dialTLS(t)
		if !c.SupportsAuth(sasl.Plain) || !c.SupportsAuth(sasl.Login) {
			t.Error("PLAIN and LOGIN not both offered")
		}
		wantReply(t, c.Mail("sender@example.com", nil), 530, smtp.EnhancedCode{5, 7, 0})
		wantReply(t, c.Auth(sasl.NewPlainClient("", user, "wrong")), 535, smtp.EnhancedCode{5, 7, 8})
		if err := c.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
			t.Fatal(err)
		}
		mustSend(t, c, "a@example.com")
	})
	t.Run("LOGIN", func(t *testing.T) {
		before := len(s.Commands())
		c := dialTLS(t)
		if err := c.Auth(sasl.NewLoginClient(user, pass)); err != nil {
			t.Fatal(err)
		}
		mustSend(t, c, "b@example.com")
		mustQuit(t, c)
		wantCommands(t, s.Commands()[before:], "EHLO", "STARTTLS", "EHLO", "AUTH", "MAIL", "RCPT", "DATA", "QUIT")
	})
	t.Run("plaintext without TLS option", func(t *testing.T) {
		s := sendertest.NewServer(t, sendertest.Options{Username: user, Password: pass})
		c := dial(t, s)
		if err := c.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
			t.Fatal(err)
		}
		mustSend(t, c, "a@example.com")
	})
	if s.Count() != 2 {
		t.Errorf("Count %d, want 2", s.Count())
	}
}

func TestMaxMessagesPerConn(t *testing.T) {
	s := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{MaxMessagesPerConn: 2}})
	c := dial(t, s)
	for range 3 {
		mustSend(t, c, "a@example.com")
	}
	mustSend(t, dial(t, s), "b@example.com")
	if s.PerConnViolations() != 1 || s.MaxMessagesOnOneConn() != 3 {
		t.Errorf("PerConnViolations %d, MaxMessagesOnOneConn %d; want 1, 3", s.PerConnViolations(), s.MaxMessagesOnOneConn())
	}
}

// TestTranscriptRaw drives the server by hand: pipelined commands, a body
// and a BDAT chunk that look like commands, an unstuffed dot, a RSET.
func TestTranscriptRaw(t *testing.T) {
	s := sendertest.NewServer(t, sendertest.Options{})
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(timeout))
	tc := textproto.NewConn(nc)
	expect := func(codes ...int) {
		t.Helper()
		for _, code := range codes {
			if _, msg, err := tc.ReadResponse(code); err != nil {
				t.Fatalf("want %d: %v %s", code, err, msg)
			}
		}
	}
	write := func(s string) {
		t.Helper()
		if _, err := io.WriteString(nc, s); err != nil {
			t.Fatal(err)
		}
	}

	expect(220)
	write("EHLO client\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
	expect(250, 250, 250, 354)
	write("Subject: raw\r\n\r\nMAIL FROM:<x@example.com>\r\n..dot\r\n.\r\nNOOP\r\nRSET\r\n")
	expect(250, 250, 250)
	chunk := "RSET\r\nQUIT\r\n"
	write(fmt.Sprintf("MAIL FROM:<a@example.com>\r\nRCPT TO:<c@example.com>\r\nBDAT %d LAST\r\n%s", len(chunk), chunk))
	expect(250, 250, 250)
	write("QUIT\r\n")
	expect(221)

	wantCommands(t, s.Commands(), "EHLO", "MAIL", "RCPT", "DATA", "NOOP", "RSET", "MAIL", "RCPT", "BDAT", "QUIT")
	msgs := s.Messages()
	if len(msgs) != 2 || string(msgs[0].Data) != "Subject: raw\r\n\r\nMAIL FROM:<x@example.com>\r\n.dot\r\n" ||
		string(msgs[1].Data) != chunk {
		t.Errorf("messages: %+v", msgs)
	}
}

// TestClientReset checks that go-smtp's client Reset shows up as RSET and a
// new EHLO, the pattern a sender should avoid between good messages.
func TestClientReset(t *testing.T) {
	s := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{
		Rcpt: func(addr string, _ int) *smtp.SMTPError {
			if addr == "bad@example.com" {
				return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
			}
			return nil
		},
	}})
	c := dial(t, s)
	mustSend(t, c, "a@example.com")
	wantReply(t, send(c, "sender@example.com", []string{"bad@example.com"}, "x"), 550, smtp.EnhancedCode{5, 1, 1})
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	mustSend(t, c, "b@example.com")
	mustQuit(t, c)
	wantCommands(t, s.Commands(),
		"EHLO", "MAIL", "RCPT", "DATA", "MAIL", "RCPT", "RSET", "EHLO", "MAIL", "RCPT", "DATA", "QUIT")
}

func TestConcurrent(t *testing.T) {
	s := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{MaxMessagesPerConn: 3}})
	const conns, perConn = 8, 5
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = s.Messages()
			_ = s.ByRecipient()
			_ = s.Commands()
			_ = s.Count() + s.Connections() + s.MaxMessagesOnOneConn() + s.PerConnViolations()
			time.Sleep(time.Millisecond)
		}
	})
	var senders sync.WaitGroup
	for i := range conns {
		senders.Go(func() {
			c, err := smtp.Dial(s.Addr())
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			for j := range perConn {
				if err := send(c, "sender@example.com", []string{fmt.Sprintf("r%d-%d@example.com", i, j)}, message("c", "c")); err != nil {
					t.Error(err)
					return
				}
			}
			if err := c.Quit(); err != nil {
				t.Error(err)
			}
		})
	}
	senders.Wait()
	close(stop)
	readers.Wait()

	if s.Count() != conns*perConn || len(s.ByRecipient()) != conns*perConn || s.Connections() != conns ||
		s.PerConnViolations() != conns*(perConn-3) || len(s.Commands()) != conns*(2+3*perConn) {
		t.Errorf("Count %d, recipients %d, Connections %d, PerConnViolations %d, commands %d",
			s.Count(), len(s.ByRecipient()), s.Connections(), s.PerConnViolations(), len(s.Commands()))
	}
}

func TestDiscardData(t *testing.T) {
	s := sendertest.NewServer(t, sendertest.Options{DiscardData: true})
	c := dial(t, s)
	if err := send(c, "sender@example.com", []string{"a@example.com"}, message("id", "Kept")); err != nil {
		t.Fatal(err)
	}
	if m := s.Messages()[0]; m.Data != nil || m.MessageID != "<id@example.com>" || m.Subject != "Kept" {
		t.Errorf("message: %+v", m)
	}
}

func TestCertFile(t *testing.T) {
	s := sendertest.NewServer(t, sendertest.Options{TLS: true})
	path := s.CertFile()
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, s.CertPEM()) || s.CertFile() != path {
		t.Errorf("CertFile %q: %v %q", path, err, got)
	}
	if plain := sendertest.NewServer(t, sendertest.Options{}); plain.CertPEM() != nil || plain.ClientTLSConfig() != nil {
		t.Error("certificate without TLS")
	}
}

func TestLargeMessage(t *testing.T) {
	s := sendertest.NewServer(t, sendertest.Options{})
	var b strings.Builder
	b.WriteString("Subject: large\r\n\r\n")
	b.WriteString(strings.Repeat("x", 1500) + "\r\n") // long, under go-smtp's 2000-byte line limit
	for i := 0; b.Len() < 4<<20; i++ {
		fmt.Fprintf(&b, "line %d: %s\r\n", i, strings.Repeat("QUIT ", 20))
	}
	b.WriteString(".\r\n") // a lone dot in the body, stuffed by the client
	c := dial(t, s)
	if err := send(c, "sender@example.com", []string{"a@example.com"}, b.String()); err != nil {
		t.Fatal(err)
	}
	mustSend(t, c, "b@example.com")
	mustQuit(t, c)
	if msgs := s.Messages(); len(msgs) != 2 || string(msgs[0].Data) != b.String() {
		t.Fatalf("large message not recorded intact")
	}
	wantCommands(t, s.Commands(), "EHLO", "MAIL", "RCPT", "DATA", "MAIL", "RCPT", "DATA", "QUIT")
}
