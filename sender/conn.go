package sender

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// TLSMode is how the connection to the relay is protected. It has exactly
// three values: an unknown string cannot be parsed into one, so a typo in a
// setting is refused instead of meaning "no TLS".
type TLSMode int

// The TLS modes: STARTTLS on a plain port (587), TLS from the first byte
// (465), or none, which must be asked for. The zero value is StartTLS, the
// safe default.
const (
	StartTLS TLSMode = iota
	Implicit
	NoTLS
)

var tlsModeNames = [...]string{StartTLS: "starttls", Implicit: "tls", NoTLS: "none"}

// ErrTLSMode is a TLS mode other than starttls, tls or none.
var ErrTLSMode = errors.New("use starttls, tls or none")

// ParseTLSMode reads "starttls", "tls" or "none", exactly: STARTTLS, yes,
// true and ssl are refused, never taken for one of them.
func ParseTLSMode(s string) (TLSMode, error) {
	for m, name := range tlsModeNames {
		if s == name {
			return TLSMode(m), nil
		}
	}
	return StartTLS, fmt.Errorf("%q: %w", s, ErrTLSMode)
}

func (m TLSMode) String() string {
	if m < 0 || int(m) >= len(tlsModeNames) {
		return "TLSMode(" + strconv.Itoa(int(m)) + ")"
	}
	return tlsModeNames[m]
}

// DefaultPort is the port the mode is usually served on.
func (m TLSMode) DefaultPort() int {
	switch m {
	case Implicit:
		return 465
	case NoTLS:
		return 25
	}
	return 587
}

// MarshalText writes the mode's name; campaigns store it in the ledger.
func (m TLSMode) MarshalText() ([]byte, error) {
	if m < 0 || int(m) >= len(tlsModeNames) {
		return nil, fmt.Errorf("TLS mode %d: %w", int(m), ErrTLSMode)
	}
	return []byte(tlsModeNames[m]), nil
}

// UnmarshalText reads a name ParseTLSMode accepts, as older ledgers stored.
func (m *TLSMode) UnmarshalText(b []byte) error {
	v, err := ParseTLSMode(string(b))
	if err != nil {
		return fmt.Errorf("TLS mode %w", err)
	}
	*m = v
	return nil
}

// Config is the relay and how to use it.
type Config struct {
	Host               string
	Port               int
	TLS                TLSMode
	TLSConfig          *tls.Config // nil: system roots, ServerName = Host
	Helo               string
	Username           string
	Password           string
	AllowInsecureAuth  bool // AUTH over a connection without TLS
	Connections        int
	MaxMessagesPerConn int
	Timeout            time.Duration // every step: dial, each command, each body write
	// Backoff between failed connects starts at BackoffMin, doubles to
	// BackoffMax; after MaxConnectFailures consecutive failures the relay
	// counts as down. The defaults (1s, 30s, 8) wait about a minute and a
	// half for a relay that restarts before giving the run up.
	BackoffMin, BackoffMax time.Duration
	MaxConnectFailures     int
	// Pipelining and Chunking (RFC 2920, RFC 3030) are used when the relay
	// offers them, unless set to Off.
	Pipelining, Chunking Toggle
	// Rate is messages per second (0: unpaced), Burst the most sent at
	// once, Ramp a warm-up from a tenth of Rate to all of it.
	Rate  float64
	Burst int
	Ramp  time.Duration
	// ThrottleRecover is the quiet time after a throttling reply before
	// the rate and connections start growing back (default 30s).
	ThrottleRecover time.Duration
	// Name and Weight place this relay in a Group: recipients are spread
	// in proportion to Weight (default 1).
	Name   string
	Weight float64
	// Logf receives pacing changes; nil drops them.
	Logf func(format string, args ...any)
}

// Toggle turns an SMTP extension off; the zero value means "when offered".
type Toggle string

// Off disables an extension the relay offers.
const Off Toggle = "off"

func (c *Config) addr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

func (c *Config) tlsConfig() *tls.Config {
	if c.TLSConfig != nil {
		t := c.TLSConfig.Clone()
		if t.ServerName == "" {
			t.ServerName = c.Host
		}
		return t
	}
	return &tls.Config{ServerName: c.Host, MinVersion: tls.VersionTLS12}
}

// ErrInsecureAuth refuses to send a password over plaintext.
var ErrInsecureAuth = errors.New("refusing to authenticate over a connection without TLS (set smtp.tls to starttls or tls, or smtp.allow_insecure_auth: true for a trusted local relay)")

// conn is one open session with the relay. go-smtp sets it up (greeting,
// EHLO, STARTTLS, AUTH) and carries transactions when the relay does not
// offer PIPELINING; otherwise mailblast writes them itself on nc.
type conn struct {
	c          *smtp.Client
	nc         net.Conn // the SMTP stream: TLS when TLS is on
	raw        net.Conn // the TCP connection, closed to abort
	p          *pipe    // set once a pipelined transaction ran
	pipelining bool
	chunking   bool
	utf8       bool
	sent       int // messages on this connection; -1: not reusable
	max        int // smtp.max_messages_per_connection; 0: no limit
}

// deadlineConn puts a deadline on every read and write: go-smtp leaves body
// writes without one, and a relay that stops reading must not hang us.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
}

func (d *deadlineConn) Read(b []byte) (int, error) {
	d.Conn.SetReadDeadline(time.Now().Add(d.timeout))
	return d.Conn.Read(b)
}

func (d *deadlineConn) Write(b []byte) (int, error) {
	d.Conn.SetWriteDeadline(time.Now().Add(d.timeout))
	return d.Conn.Write(b)
}

// dial opens, greets, secures and authenticates one connection.
func dial(ctx context.Context, cfg *Config) (*conn, error) {
	d := net.Dialer{Timeout: cfg.Timeout}
	raw, err := d.DialContext(ctx, "tcp", cfg.addr())
	if err != nil {
		return nil, Classify("CONNECT", err)
	}
	var nc net.Conn = &deadlineConn{Conn: raw, timeout: cfg.Timeout}
	if cfg.TLS == Implicit {
		tc := tls.Client(nc, cfg.tlsConfig())
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, Classify("TLS", err)
		}
		nc = tc
	}
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()
	c, nc, err := open(nc, cfg)
	if err == nil {
		err = auth(c, cfg, nc)
	}
	if err != nil {
		raw.Close()
		return nil, err
	}
	cn := &conn{c: c, nc: nc, raw: raw, max: cfg.MaxMessagesPerConn}
	cn.pipelining, _ = c.Extension("PIPELINING")
	cn.chunking, _ = c.Extension("CHUNKING")
	cn.utf8, _ = c.Extension("SMTPUTF8")
	cn.pipelining = cn.pipelining && cfg.Pipelining != Off
	cn.chunking = cn.chunking && cn.pipelining && cfg.Chunking != Off
	return cn, nil
}

// open greets the relay through go-smtp and, for starttls, upgrades the
// connection itself: go-smtp keeps its TLS connection private, and the
// pipelined transactions need it.
func open(nc net.Conn, cfg *Config) (*smtp.Client, net.Conn, error) {
	c, err := hello(nc, cfg)
	if err != nil || cfg.TLS != StartTLS {
		return c, nc, err
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		return nil, nil, &Error{Command: "TLS", Message: "relay does not offer STARTTLS (set smtp.tls: none only for a trusted local relay)", Relay: true, Permanent: true}
	}
	tc, err := startTLS(nc, cfg)
	if err != nil {
		return nil, nil, err
	}
	// A second go-smtp client on the TLS stream; it expects a greeting,
	// which after STARTTLS the relay does not send again.
	c, err = hello(&greeted{Conn: tc, hello: []byte("220 after STARTTLS\r\n")}, cfg)
	return c, tc, err
}

func hello(nc net.Conn, cfg *Config) (*smtp.Client, error) {
	c := smtp.NewClient(nc)
	c.CommandTimeout, c.SubmissionTimeout = cfg.Timeout, cfg.Timeout
	if err := c.Hello(cfg.Helo); err != nil {
		return nil, Classify("EHLO", err)
	}
	// NOOP makes go-smtp send EHLO now, so its failure is reported as a
	// greeting failure and the extensions are known before AUTH.
	if err := c.Noop(); err != nil {
		return nil, Classify("EHLO", err)
	}
	return c, nil
}

func startTLS(nc net.Conn, cfg *Config) (*tls.Conn, error) {
	if _, err := io.WriteString(nc, "STARTTLS\r\n"); err != nil {
		return nil, Classify("TLS", err)
	}
	// The relay sends nothing after its 220 until our handshake, so this
	// reader cannot swallow TLS bytes.
	if e := readReply(textproto.NewReader(bufio.NewReaderSize(nc, 512)), "TLS", 220); e != nil {
		return nil, e
	}
	tc := tls.Client(nc, cfg.tlsConfig())
	if err := tc.Handshake(); err != nil {
		return nil, Classify("TLS", err)
	}
	return tc, nil
}

// greeted replays a greeting before the stream's own bytes.
type greeted struct {
	net.Conn
	hello []byte
}

func (g *greeted) Read(b []byte) (int, error) {
	if len(g.hello) > 0 {
		n := copy(b, g.hello)
		g.hello = g.hello[n:]
		return n, nil
	}
	return g.Conn.Read(b)
}

// startTLSError: a relay without STARTTLS is a configuration problem no
// retry cures; a reply or a dropped line is ordinary relay trouble.
func startTLSError(err error) *Error {
	e := Classify("TLS", err)
	var se *smtp.SMTPError
	var ne net.Error
	if e.Code == 0 && !errors.As(err, &se) && !errors.As(err, &ne) && !errors.Is(err, io.EOF) {
		e.Permanent = true
		e.Message = "STARTTLS failed: " + e.Message + " (set smtp.tls: none only for a trusted local relay)"
	}
	return e
}

// auth logs in over stream, the connection the SMTP session runs on. Whether
// it is private is decided from the stream itself (a completed TLS
// handshake), never from a setting, so no mode or typo can send the
// password in clear; AllowInsecureAuth is the only way to.
func auth(c *smtp.Client, cfg *Config, stream net.Conn) error {
	if cfg.Username == "" {
		return nil
	}
	if !tlsDone(stream) && !cfg.AllowInsecureAuth {
		return &Error{Command: "AUTH", Message: ErrInsecureAuth.Error(), Relay: true, Permanent: true, Err: ErrInsecureAuth}
	}
	var mech sasl.Client
	switch {
	case c.SupportsAuth("PLAIN"):
		mech = sasl.NewPlainClient("", cfg.Username, cfg.Password)
	case c.SupportsAuth("LOGIN"):
		mech = sasl.NewLoginClient(cfg.Username, cfg.Password)
	default:
		return &Error{Command: "AUTH", Message: "relay offers neither AUTH PLAIN nor LOGIN", Relay: true, Permanent: true}
	}
	if err := c.Auth(mech); err != nil {
		e := Classify("AUTH", err)
		// A rejected password is final for the run, whatever the code says
		// about the session: retrying would only lock the account.
		e.Permanent = e.Permanent || e.Code == 535
		return e
	}
	return nil
}

// tlsDone reports whether stream is a TLS connection whose handshake
// completed.
func tlsDone(stream net.Conn) bool {
	tc, ok := stream.(*tls.Conn)
	return ok && tc.ConnectionState().HandshakeComplete
}

// refuses says why this connection cannot carry m at all: the address
// needs SMTPUTF8 and the relay does not offer it.
func (cn *conn) refuses(m *Envelope) *Error {
	if m.UTF8 && !cn.utf8 {
		return &Error{Command: "MAIL", Permanent: true, NotAttempted: true,
			Message: "the address has a non-ASCII local part and the relay does not offer SMTPUTF8"}
	}
	return nil
}

// sendStepwise: a rejected MAIL or RCPT leaves a transaction open, so RSET
// closes it; after a good DATA nothing is needed.
func (cn *conn) sendStepwise(m *Envelope) *Error {
	if err := cn.c.Mail(m.From, &smtp.MailOptions{UTF8: m.UTF8}); err != nil {
		return cn.reset(Classify("MAIL", err))
	}
	if err := cn.c.Rcpt(m.To, nil); err != nil {
		return cn.reset(Classify("RCPT", err))
	}
	w, err := cn.c.Data()
	if err != nil {
		return cn.reset(Classify("DATA", err))
	}
	if _, err := w.Write(m.Data); err != nil {
		return Classify("DATA", err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return Classify("DATA", err)
	}
	m.Reply = resp.StatusText
	cn.sent++
	return nil
}

func (cn *conn) reset(e *Error) *Error {
	if e.Relay {
		return e
	}
	if err := cn.c.Reset(); err != nil {
		// The reply stands; the connection is just not reusable.
		cn.sent = -1
	}
	return e
}

func (cn *conn) usable(max int) bool { return cn.sent >= 0 && (max <= 0 || cn.sent < max) }

// close says QUIT politely, then closes whatever is left.
func (cn *conn) close() {
	switch {
	case cn.sent < 0:
	case cn.p != nil:
		cn.p.quit()
	default:
		cn.c.Quit()
	}
	cn.raw.Close()
}
