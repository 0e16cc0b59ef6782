package imapfetch

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailblast/mailblast/sender"
)

// Config is the mailbox and how to reach it.
type Config struct {
	Host string
	Port int // 0: 993 with TLS, 143 otherwise
	// TLS is tls (implicit, 993), starttls or none; none is the only way
	// the password is sent over a connection without TLS.
	TLS       sender.TLSMode
	TLSConfig *tls.Config // nil: the system's roots; ServerName defaults to Host
	Username  string
	Password  string
	Mailbox   string        // read, e.g. INBOX
	Processed string        // where messages acted on go, created if missing
	Timeout   time.Duration // dial, TLS and greeting; 0: 30 s
	// PassTimeout ends the pass, from dial to logout (feedback.imap.timeout);
	// 0: DefaultPassTimeout.
	PassTimeout time.Duration
	IdleTimeout time.Duration // no byte for so long ends the pass; 0: IdleTimeout
}

// DefaultPort is 993 for implicit TLS and 143 otherwise (RFC 8314).
func DefaultPort(m sender.TLSMode) int {
	if m == sender.Implicit {
		return 993
	}
	return 143
}

// Errors a pass ends with; cmd maps them to exit codes.
var (
	ErrUnreachable  = errors.New("IMAP server unreachable")
	ErrLoginRefused = errors.New("IMAP server refused the login")
)

// SettingError is a setting that cannot work as it is: a server without
// the TLS asked for, a certificate that does not verify, a missing mailbox.
type SettingError struct {
	Key string // the setting to change, e.g. feedback.imap.tls
	Err error
}

func (e *SettingError) Error() string { return e.Key + ": " + e.Err.Error() }
func (e *SettingError) Unwrap() error { return e.Err }

func (c *Config) addr() string {
	port := c.Port
	if port == 0 {
		port = DefaultPort(c.TLS)
	}
	return net.JoinHostPort(c.Host, strconv.Itoa(port))
}

func (c *Config) tlsConfig() *tls.Config {
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.TLSConfig != nil {
		t = c.TLSConfig.Clone()
	}
	if t.ServerName == "" {
		t.ServerName = c.Host
	}
	return t
}

func (c *Config) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return 30 * time.Second
}

func (c *Config) passTimeout() time.Duration {
	if c.PassTimeout > 0 {
		return c.PassTimeout
	}
	return DefaultPassTimeout
}

// Session is a logged-in connection.
type Session struct {
	cfg  Config
	c    *imapclient.Client
	b    *bounds
	stop func() bool // ends the context watch
}

// Dial connects, secures the connection as cfg.TLS says, and logs in.
func Dial(ctx context.Context, cfg Config) (*Session, error) {
	d := net.Dialer{Timeout: cfg.timeout()}
	conn, err := d.DialContext(ctx, "tcp", cfg.addr())
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnreachable, cfg.addr(), err)
	}
	// imapclient takes no context: closing the connection is how a signal
	// ends whatever waits on the server, from the greeting on.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	b := newBounds(conn, cfg.passTimeout())
	idle := cfg.IdleTimeout
	if idle <= 0 {
		idle = IdleTimeout
	}
	c, err := secure(ctx, &cfg, b, &idleConn{Conn: conn, b: b, idle: idle})
	if err != nil {
		stop()
		b.stop()
		_ = conn.Close() // refused before any secret was sent
		return nil, b.explain(cfg.addr(), err)
	}
	s := &Session{cfg: cfg, c: c, b: b, stop: stop}
	if err := s.login(); err != nil {
		s.Close()
		return nil, b.explain(cfg.addr(), err)
	}
	b.counted.login()
	return s, nil
}

// secure makes the IMAP client over conn per cfg.TLS: only the none mode
// ever yields a client without a verified TLS handshake.
func secure(ctx context.Context, cfg *Config, b *bounds, conn net.Conn) (*imapclient.Client, error) {
	opts := &imapclient.Options{TLSConfig: cfg.tlsConfig(), DebugWriter: &b.counted,
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{Fetch: b.unsolicited}}
	_ = conn.SetDeadline(time.Now().Add(cfg.timeout()))
	defer func() { _ = conn.SetDeadline(time.Time{}) }()
	switch cfg.TLS {
	case sender.NoTLS:
		c := imapclient.New(conn, opts)
		return c, greeting(cfg, c)
	case sender.Implicit:
		tc := tls.Client(conn, opts.TLSConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, tlsError(cfg, err)
		}
		c := imapclient.New(tc, opts)
		return c, greeting(cfg, c)
	}
	c, err := imapclient.NewStartTLS(conn, opts)
	var ie *imap.Error
	switch {
	case errors.As(err, &ie):
		return nil, &SettingError{"feedback.imap.tls", fmt.Errorf("%s refused STARTTLS (%s); refusing to send the password without TLS: use tls (port 993), or tls: none for a trusted local server", cfg.addr(), ie.Text)}
	case err != nil:
		return nil, tlsError(cfg, err)
	}
	return c, nil
}

func greeting(cfg *Config, c *imapclient.Client) error {
	if err := c.WaitGreeting(); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnreachable, cfg.addr(), err)
	}
	return nil
}

// tlsError says whether TLS failed on a certificate (a setting to fix) or
// on the way (a server gone, to retry).
func tlsError(cfg *Config, err error) error {
	var cv *tls.CertificateVerificationError
	var rh tls.RecordHeaderError
	var alert tls.AlertError
	if errors.As(err, &cv) || errors.As(err, &rh) || errors.As(err, &alert) {
		return &SettingError{"feedback.imap.tls", fmt.Errorf("TLS with %s failed: %w (for a private CA set feedback.imap.ca_file; is the port right for tls %s?)", cfg.addr(), err, cfg.TLS)}
	}
	return fmt.Errorf("%w: %s: TLS: %w", ErrUnreachable, cfg.addr(), err)
}

// login sends the password: secure decided the connection may carry it.
func (s *Session) login() error {
	err := s.c.Login(s.cfg.Username, s.cfg.Password).Wait()
	var ie *imap.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ie) && ie.Code == imap.ResponseCodeUnavailable:
		// RFC 5530: the server cannot check the password just now (its
		// authentication backend is down): try later, the password is fine.
		return fmt.Errorf("%w: %s: login: %s", ErrUnreachable, s.cfg.addr(), ie.Text)
	case errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeNo:
		return fmt.Errorf("%w: user %s at %s: %s", ErrLoginRefused, s.cfg.Username, s.cfg.addr(), ie.Text)
	case errors.As(err, &ie):
		return fmt.Errorf("%s: login: %w", s.cfg.addr(), err)
	}
	return fmt.Errorf("%w: %s: login: %w", ErrUnreachable, s.cfg.addr(), err)
}

// Close logs out, or just closes when the server does not answer.
func (s *Session) Close() {
	s.stop()
	defer s.b.stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.c.Logout().Wait() // best effort: nothing is pending
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	_ = s.c.Close()
	<-done
}
