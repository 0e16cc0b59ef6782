package sendertest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Limits and timeouts of every test server.
const (
	ioTimeout       = 30 * time.Second // go-smtp ReadTimeout and WriteTimeout
	maxMessageBytes = 32 << 20
	maxRecipients   = 1000
	maxCommands     = 100_000          // Commands keeps this many verbs
	closeTimeout    = 10 * time.Second // Close reports an error if handlers are still busy after this
	hangUpTimeout   = 5 * time.Second  // write deadline for replies written by this package itself
)

// Replies the server makes on its own. They are *smtp.SMTPError values, so a
// test can compare a client error's Code and EnhancedCode against them.
var (
	// ErrServiceNotAvailable is sent while the server is down (SetDown).
	ErrServiceNotAvailable = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Service not available"}
	// ErrTooManyMessages is sent to the MAIL after Faults.Reply421AfterN messages.
	ErrTooManyMessages = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Too many messages on this connection, closing"}
	// ErrAuthRequired is sent to MAIL before AUTH when Options.Username is set (RFC 4954).
	ErrAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}

	errClosing = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Test server closing"}
	errDropped = errors.New("sendertest: connection dropped in DATA")
)

// Options configure a Server. The zero value is a plain SMTP server without
// authentication or faults.
type Options struct {
	// TLS generates a self-signed certificate for 127.0.0.1, ::1 and localhost
	// (ECDSA P-256, in memory) and offers STARTTLS.
	TLS bool
	// ImplicitTLS serves TLS from the first byte (port-465 style) with the same
	// kind of certificate. STARTTLS is then not offered.
	ImplicitTLS bool
	// Username and Password, if Username is set, require AUTH (PLAIN and LOGIN
	// are offered) before MAIL. AUTH over plaintext is allowed only when
	// neither TLS nor ImplicitTLS is set; with TLS it needs STARTTLS first.
	Username, Password string
	// Bearer, if set, makes AUTH take only OAuth 2.0 bearer tokens
	// (XOAUTH2 and OAUTHBEARER, no password) and requires it before MAIL.
	// It is called with each login's username and token; false refuses it
	// (XOAUTH2: an error challenge, then 535 5.7.8; OAUTHBEARER: an error
	// challenge, RFC 7628). Username and Password are then not used.
	Bearer func(username, token string) bool
	// BearerMechanisms are the mechanisms offered with Bearer, default
	// XOAUTH2 and OAUTHBEARER.
	BearerMechanisms []string
	// DiscardData records messages without their Data (MessageID and Subject
	// are still parsed), for load tests that send many large messages.
	DiscardData bool
	// DSN offers the DSN extension (RFC 3461): ENVID and ORCPT are then
	// taken and recorded in each Message.
	DSN bool
	// Faults are the server's misbehaviours.
	Faults Faults
}

// Faults make the server misbehave. The zero value is a well-behaved server.
// Counts are off when zero. Callbacks are called from connection goroutines,
// possibly concurrently; they may call the Server's methods.
type Faults struct {
	// Rcpt, if set, is called for each RCPT TO with the address and how many
	// times this address (case-insensitively) has been seen in RCPT on this
	// server, counting this one (1 on the first try). A non-nil reply is sent
	// instead of 250 and the recipient is not added.
	Rcpt func(addr string, attempt int) *smtp.SMTPError
	// Data, if set, is called after the whole message is read, with the
	// accepted recipients and the raw message. A non-nil reply is sent instead
	// of 250 and the message is not recorded.
	Data func(rcpts []string, data []byte) *smtp.SMTPError
	// Reply421AfterN: after N accepted messages on one connection, the next
	// MAIL gets ErrTooManyMessages (421 4.7.0) and the connection is closed.
	Reply421AfterN int
	// DropInDataEvery: every Nth DATA on this server (counting every message
	// body the server starts to read) the connection is closed after reading
	// part of the body. The message is not recorded and gets no reply.
	DropInDataEvery int
	// StallAfterN: after N accepted messages on this server, the server stops
	// answering. Open connections get no reply to anything they send, new
	// connections get no greeting (nor a TLS handshake), and everything is
	// held open until Close.
	StallAfterN int
	// SilentAfterDot: the server reads every message body whole (and calls
	// Data, which may count it), then never answers its final dot or BDAT
	// LAST, nor anything after it on that connection. The message is not
	// recorded. The connection is held until the client closes it or Close.
	SilentAfterDot bool
	// MaxMessagesPerConn is informational: messages accepted on a connection
	// beyond this many are counted by PerConnViolations.
	MaxMessagesPerConn int
}

// Message is one accepted message.
type Message struct {
	From string
	To   []string
	// Data is the message as received (CRLF line ends, dot-unstuffed), nil
	// with Options.DiscardData. It is shared between copies: do not modify it.
	Data []byte
	// MessageID and Subject are the raw header values, trimmed (MessageID
	// keeps its angle brackets). Empty when absent or unparsable.
	MessageID, Subject string
	// EnvID is MAIL FROM's ENVID, ORCPT each RCPT's ORCPT as
	// "type;address" ("" when none), both decoded (DSN only).
	EnvID string
	ORCPT []string
	// Conn is the connection's sequence number, 1 for the first connection
	// the server accepted.
	Conn int
}

// Server is a go-smtp server on 127.0.0.1 with a recording backend. Its
// methods are safe for concurrent use.
type Server struct {
	t         testing.TB
	opts      Options
	ln        net.Listener
	tlsConfig *tls.Config // nil without TLS
	certPEM   []byte

	done      chan struct{} // closed by Close
	closeOnce sync.Once
	wg        sync.WaitGroup // accept loop and connection goroutines

	down     atomic.Bool
	accepted atomic.Int64 // len(messages), readable without mu

	logMu  sync.Mutex
	logOff bool // set once Close has finished: testing.TB must not be used

	mu         sync.Mutex
	closed     bool
	live       map[int]net.Conn // open connections by sequence number
	nconns     int
	messages   []Message
	perConn    map[int]int // accepted messages by connection
	maxOnConn  int
	violations int
	dataSeen   int            // message bodies started (DropInDataEvery)
	rcptSeen   map[string]int // RCPT attempts by lower-cased address
	commands   []command      // transcript, trimmed to the last maxCommands
	certFile   string
}

type command struct {
	conn int
	verb string
}

// NewServer starts a server on 127.0.0.1 on a free port. It is closed by
// t.Cleanup; a failure to start is fatal to the test.
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{
		t:        t,
		opts:     opts,
		done:     make(chan struct{}),
		live:     make(map[int]net.Conn),
		perConn:  make(map[int]int),
		rcptSeen: make(map[string]int),
	}
	if opts.TLS || opts.ImplicitTLS {
		cert, certPEM, err := selfSigned()
		if err != nil {
			t.Fatalf("sendertest: certificate: %v", err)
		}
		s.certPEM = certPEM
		s.tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("sendertest: listen: %v", err)
	}
	s.ln = ln
	s.wg.Add(1)
	go s.acceptLoop()
	t.Cleanup(s.Close)
	return s
}

// Addr is "127.0.0.1:PORT".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Host is "127.0.0.1".
func (s *Server) Host() string { return "127.0.0.1" }

// Port is the port the server listens on.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// CertPEM is the PEM-encoded self-signed certificate, nil without TLS.
func (s *Server) CertPEM() []byte { return s.certPEM }

// CertPool is a pool holding only the server's certificate, nil without TLS.
func (s *Server) CertPool() *x509.CertPool {
	if s.certPEM == nil {
		return nil
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.certPEM)
	return pool
}

// ClientTLSConfig trusts the server's certificate and nothing else. Its
// ServerName is 127.0.0.1, which the certificate covers (so does localhost).
// Nil without TLS.
func (s *Server) ClientTLSConfig() *tls.Config {
	if s.certPEM == nil {
		return nil
	}
	return &tls.Config{RootCAs: s.CertPool(), ServerName: s.Host(), MinVersion: tls.VersionTLS12}
}

// CertFile writes CertPEM to a file in a t.TempDir, once, and returns its
// path: set SSL_CERT_FILE to it so a subprocess trusts the server. Call it
// from the test goroutine. Fatal to the test without TLS.
func (s *Server) CertFile() string {
	s.t.Helper()
	if s.certPEM == nil {
		s.t.Fatalf("sendertest: CertFile needs Options.TLS or Options.ImplicitTLS")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.certFile == "" {
		path := filepath.Join(s.t.TempDir(), "sendertest-cert.pem")
		if err := os.WriteFile(path, s.certPEM, 0o644); err != nil {
			s.t.Fatalf("sendertest: %v", err)
		}
		s.certFile = path
	}
	return s.certFile
}

// Messages returns the accepted messages in arrival order (a new slice).
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.messages))
	for i, m := range s.messages {
		out[i] = m.clone()
	}
	return out
}

// Count is the number of accepted messages.
func (s *Server) Count() int { return int(s.accepted.Load()) }

// ByRecipient maps each lower-cased RCPT address to every accepted message
// that was addressed to it, in arrival order. A message with two recipients
// appears under both.
func (s *Server) ByRecipient() map[string][]Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]Message)
	for _, m := range s.messages {
		for _, rcpt := range m.To {
			key := strings.ToLower(rcpt)
			out[key] = append(out[key], m.clone())
		}
	}
	return out
}

// Connections is the number of TCP connections accepted, including those
// turned away while down or held by a stall.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nconns
}

// MaxMessagesOnOneConn is the largest number of messages accepted on one
// connection.
func (s *Server) MaxMessagesOnOneConn() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxOnConn
}

// PerConnViolations counts the messages accepted on a connection that had
// already carried Faults.MaxMessagesPerConn messages. Always 0 when that
// limit is 0.
func (s *Server) PerConnViolations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.violations
}

// Commands is the transcript of command verbs received, in order, over all
// connections: "EHLO", "HELO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA",
// "BDAT", "RSET", "NOOP", "VRFY", "QUIT" and whatever else a client sends,
// cut and upper-cased the way go-smtp reads it. A command is recorded when
// its line arrives, before it is answered. Message bodies, BDAT chunks, SASL
// responses and lines go-smtp refuses as malformed are not commands. Only the
// last 100,000 are kept.
func (s *Server) Commands() []string { return s.commandsOn(0) }

// CommandsOnConn is Commands for one connection (see Message.Conn).
func (s *Server) CommandsOnConn(conn int) []string { return s.commandsOn(conn) }

func (s *Server) commandsOn(conn int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	cmds := s.commands
	if len(cmds) > maxCommands {
		cmds = cmds[len(cmds)-maxCommands:]
	}
	out := make([]string, 0, len(cmds))
	for _, c := range cmds {
		if conn == 0 || c.conn == conn {
			out = append(out, c.verb)
		}
	}
	return out
}

// SetDown turns the server away while down: a new connection gets
// "421 4.3.2 Service not available" instead of its greeting and is closed;
// an open connection gets the same reply to its next MAIL, RCPT or DATA (after
// the body), or to its first EHLO, and is closed. (go-smtp answers NOOP, RSET
// and a repeated EHLO without asking the backend.) SetDown(false) brings the
// server back.
func (s *Server) SetDown(down bool) { s.down.Store(down) }

// Close stops the server, closes every connection, releases stalled ones and
// waits for all its goroutines. It is called by t.Cleanup and may be called
// earlier; later calls do nothing.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		conns := make([]net.Conn, 0, len(s.live))
		for _, c := range s.live {
			conns = append(conns, c)
		}
		s.mu.Unlock()

		close(s.done)
		s.ln.Close()
		for _, c := range conns {
			c.Close()
		}

		finished := make(chan struct{})
		go func() {
			s.wg.Wait()
			close(finished)
		}()
		select {
		case <-finished:
		case <-time.After(closeTimeout):
			s.t.Errorf("sendertest: connections still busy %v after Close (a Faults callback blocking?)", closeTimeout)
		}

		s.logMu.Lock()
		s.logOff = true
		s.logMu.Unlock()
	})
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		raw, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.logf("accept: %v", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}

		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			raw.Close()
			continue
		}
		s.nconns++
		seq := s.nconns
		s.live[seq] = raw
		s.wg.Add(1) // the accept loop's own count is held, so this may race Wait
		s.mu.Unlock()

		go s.serveConn(raw, seq)
	}
}

// stalled reports whether Faults.StallAfterN has been reached.
func (s *Server) stalled() bool {
	n := s.opts.Faults.StallAfterN
	return n > 0 && s.accepted.Load() >= int64(n)
}

// hold blocks while the server is stalled, until Close.
func (s *Server) hold() error {
	if !s.stalled() {
		return nil
	}
	<-s.done
	return errClosing
}

// logf reports go-smtp's internal errors and ours through the test log,
// until Close has finished.
func (s *Server) logf(format string, args ...any) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	if !s.logOff {
		s.t.Logf("sendertest: "+format, args...)
	}
}

type testLogger struct{ s *Server }

func (l testLogger) Printf(format string, v ...any) { l.s.logf(format, v...) }
func (l testLogger) Println(v ...any)               { l.s.logf("%s", strings.TrimSuffix(fmt.Sprintln(v...), "\n")) }

func (m Message) clone() Message {
	m.To = append([]string(nil), m.To...)
	m.Data = m.Data[:len(m.Data):len(m.Data)]
	return m
}

func formatReply(e *smtp.SMTPError) string {
	c := e.EnhancedCode
	return fmt.Sprintf("%d %d.%d.%d %s\r\n", e.Code, c[0], c[1], c[2], e.Message)
}
