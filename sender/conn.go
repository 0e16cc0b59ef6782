package sender

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"time"

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

// Config is a relay and how to use it for one run: its Settings, and
// what a run adds that is never stored.
type Config struct {
	Settings
	Password  string
	TLSConfig *tls.Config // nil: system roots, ServerName = Host
	// Tokens gives the bearer tokens of OAuth AUTH; nil: NewPool makes one
	// from Settings.OAuth2, shared by every connection of the pool.
	Tokens TokenSource
	// BackoffMax caps the wait between failed connects (0: the constant
	// BackoffMax); tests shorten it.
	BackoffMax time.Duration
	// Name and Weight place this relay in a Group: recipients are spread
	// in proportion to Weight (default 1).
	Name   string
	Weight float64
	// OnWire, when set, is told of each message just before its first byte
	// goes to the relay (every try): what a crash can have left on the
	// wire is exactly what it was told of.
	OnWire func(*Envelope)
	// Logf receives pacing changes; nil drops them.
	Logf func(format string, args ...any)
}

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
	dsn        bool // the relay offers DSN (RFC 3461): ENVID and ORCPT
	sent       int  // messages on this connection; -1: not reusable
	max        int  // smtp.max_messages_per_connection; 0: no limit
}

// Limits on what a relay may send back, far above what RFC 5321 allows
// (512 octets a reply line), so that no honest relay meets them while a
// hostile one cannot grow the process or hold a run.
const (
	maxReplyLine  = 4 << 10          // one reply line
	maxReplyBytes = 64 << 10         // all read between two of our writes, on the wire
	maxSetup      = 30 * time.Second // a whole dial (connect to AUTH), at most
)

var (
	errLineTooLong  = errors.New("reply line longer than 4 KiB")
	errReplyTooLong = errors.New("reply longer than 64 KiB")
)

// deadlineConn bounds every wait on the relay. A write (a command, a piece
// of the body) must finish within timeout and starts the clock of the
// reply: all that is read until our next write must arrive within timeout
// of it, and add up to less than maxReplyBytes. Reads do not move the
// deadline, so a relay that drips a reply costs one timeout, not forever.
// Until the session is set up, no deadline goes past setup.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
	setup   time.Time // zero once the session is set up
	read    int       // bytes read since our last write
}

func (d *deadlineConn) Read(b []byte) (int, error) {
	if d.read >= maxReplyBytes {
		return 0, errReplyTooLong
	}
	n, err := d.Conn.Read(b[:min(len(b), maxReplyBytes-d.read)])
	d.read += n
	return n, err
}

func (d *deadlineConn) Write(b []byte) (int, error) {
	d.read = 0
	t := time.Now().Add(d.timeout)
	if !d.setup.IsZero() && d.setup.Before(t) {
		t = d.setup
	}
	d.SetDeadline(t)
	return d.Conn.Write(b)
}

// lineLimiter fails a reply line longer than maxReplyLine: textproto would
// grow one without end. go-smtp's own reader has a limit of its own.
type lineLimiter struct {
	r    io.Reader
	line int // bytes since the last LF
}

func (l *lineLimiter) Read(b []byte) (int, error) {
	n, err := l.r.Read(b)
	for rest := b[:n]; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			l.line += len(rest)
			break
		}
		if l.line+i > maxReplyLine {
			return 0, errLineTooLong
		}
		l.line, rest = 0, rest[i+1:]
	}
	if l.line > maxReplyLine {
		return 0, errLineTooLong
	}
	return n, err
}

// replyReader reads replies from nc within the limits above.
func replyReader(nc net.Conn, size int) *textproto.Reader {
	return textproto.NewReader(bufio.NewReaderSize(&lineLimiter{r: nc}, size))
}

// dial opens, greets, secures and authenticates one connection, all within
// min(Timeout, 30s): a relay that accepts connections and says nothing
// costs that much per attempt. Later, every reply gets Timeout.
func dial(ctx context.Context, cfg *Config) (*conn, error) {
	setup := time.Now().Add(min(cfg.Timeout, maxSetup))
	d := net.Dialer{Deadline: setup}
	raw, err := d.DialContext(ctx, "tcp", cfg.addr())
	if err != nil {
		return nil, Classify("CONNECT", err)
	}
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()
	dc := &deadlineConn{Conn: raw, timeout: cfg.Timeout, setup: setup}
	raw.SetDeadline(setup)
	nc, greeting, err := greet(dc, cfg)
	var c *smtp.Client
	if err == nil {
		c, nc, err = open(nc, greeting, cfg)
	}
	if err == nil {
		err = auth(ctx, c, cfg, nc)
	}
	if err != nil {
		raw.Close()
		return nil, err
	}
	dc.setup = time.Time{}
	cn := &conn{c: c, nc: nc, raw: raw, max: cfg.MaxMessagesPerConn}
	cn.pipelining, _ = c.Extension("PIPELINING")
	cn.chunking, _ = c.Extension("CHUNKING")
	cn.utf8, _ = c.Extension("SMTPUTF8")
	cn.dsn, _ = c.Extension("DSN")
	cn.pipelining = cn.pipelining && cfg.Pipelining != Off
	cn.chunking = cn.chunking && cn.pipelining && cfg.Chunking != Off
	return cn, nil
}

// greet shakes hands for implicit TLS and reads the greeting itself: it
// falls under the limits above though no command of ours starts its clock,
// and a refusal is reported as the relay's answer to CONNECT. The bytes it
// returns are for go-smtp to read first: a greeting, then anything the
// relay sent after its own.
func greet(dc *deadlineConn, cfg *Config) (net.Conn, []byte, error) {
	var nc net.Conn = dc
	if cfg.TLS == Implicit {
		tc := tls.Client(dc, cfg.tlsConfig())
		if err := tc.Handshake(); err != nil {
			return nil, nil, Classify("TLS", err)
		}
		nc = tc
	}
	br := bufio.NewReaderSize(&lineLimiter{r: nc}, 512)
	if e := readReply(textproto.NewReader(br), "CONNECT", 220); e != nil {
		return nil, nil, e
	}
	rest, _ := br.Peek(br.Buffered())
	return nc, append([]byte("220 greeted\r\n"), rest...), nil
}

// open says EHLO through go-smtp, which first reads greeting, and for
// starttls upgrades the connection itself: go-smtp keeps its TLS
// connection private, and the pipelined transactions need it. The stream
// it returns is the relay's own (a *tls.Conn once TLS is on), unwrapped.
func open(nc net.Conn, greeting []byte, cfg *Config) (*smtp.Client, net.Conn, error) {
	c, err := hello(&greeted{Conn: nc, hello: greeting}, cfg)
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
	if e := readReply(replyReader(nc, 512), "TLS", 220); e != nil {
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
// closes it; after a good DATA nothing is needed. sent: the final dot went
// out (go-smtp writes it in Close), so the relay may have the message.
func (cn *conn) sendStepwise(m *Envelope) (e *Error, sent bool) {
	// go-smtp drops ENVID and ORCPT itself where the relay lacks DSN.
	if err := cn.c.Mail(m.From, &smtp.MailOptions{UTF8: m.UTF8, EnvelopeID: m.EnvID}); err != nil {
		return cn.reset(Classify("MAIL", err)), false
	}
	var rcpt *smtp.RcptOptions
	if m.EnvID != "" && !m.UTF8 {
		rcpt = &smtp.RcptOptions{OriginalRecipientType: smtp.DSNAddressTypeRFC822, OriginalRecipient: m.To}
	}
	if err := cn.c.Rcpt(m.To, rcpt); err != nil {
		return cn.reset(Classify("RCPT", err)), false
	}
	w, err := cn.c.Data()
	if err != nil {
		return cn.reset(Classify("DATA", err)), false
	}
	if _, err := w.Write(m.Data); err != nil {
		return Classify("DATA", err), false
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return Classify("DATA", err), true
	}
	m.Reply = resp.StatusText
	cn.sent++
	return nil, true
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
		_ = cn.c.Quit() // a courtesy: the connection is closed either way
	}
	cn.raw.Close()
}
