package sender

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// Probe is what a relay says of itself in a session that sends nothing:
// for `mailblast doctor`.
type Probe struct {
	// Ext holds the EHLO keywords mailblast cares about that the relay
	// offered, upper case, with their parameters ("SIZE": "10240000").
	// They are the ones offered after TLS when TLS was set up, else the
	// ones offered in clear.
	Ext map[string]string
	// TLS is the TLS session, nil when there was none.
	TLS *tls.ConnectionState
	// TLSErr is why TLS failed (no STARTTLS, a certificate that does not
	// verify); Ext then holds what the relay offered in clear, if anything.
	TLSErr *Error
	// AuthErr is the reply to the login, when one was asked for and failed.
	AuthErr *Error
}

// probedExt are the extensions a probe asks about: go-smtp answers for
// one keyword at a time.
var probedExt = []string{"PIPELINING", "CHUNKING", "SIZE", "SMTPUTF8", "DSN", "STARTTLS", "AUTH", "8BITMIME", "REQUIRETLS"}

// ProbeRelay connects as a pool does (greeting, EHLO, STARTTLS or implicit
// TLS), notes the extensions and the certificate, logs in only when login
// is true, and says QUIT. Nothing is sent. An error is returned only when
// no session came about at all (no connection, a refused greeting).
func ProbeRelay(ctx context.Context, cfg Config, login bool) (*Probe, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Minute
	}
	if cfg.Helo == "" {
		cfg.Helo = "localhost" // as NewPool does
	}
	setup := time.Now().Add(min(cfg.Timeout, maxSetup))
	d := net.Dialer{Deadline: setup}
	raw, err := d.DialContext(ctx, "tcp", cfg.addr())
	if err != nil {
		return nil, Classify("CONNECT", err)
	}
	defer raw.Close()
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()
	raw.SetDeadline(setup)
	p := &Probe{Ext: map[string]string{}}
	c, nc, err := p.session(&deadlineConn{Conn: raw, timeout: cfg.Timeout, setup: setup}, &cfg)
	if err != nil || c == nil {
		return p, err
	}
	if login && cfg.Username != "" {
		p.AuthErr = Classify("AUTH", auth(ctx, c, &cfg, nc))
	}
	_ = c.Quit() // a courtesy: the connection is closed either way
	return p, nil
}

// session greets and says EHLO, then sets up TLS as cfg asks. A nil
// client with a nil error means TLS failed (p.TLSErr says why).
func (p *Probe) session(dc *deadlineConn, cfg *Config) (*smtp.Client, net.Conn, error) {
	nc, greeting, err := greet(dc, cfg)
	if e := Classify("TLS", err); e != nil && e.Command == "TLS" {
		p.TLSErr = e
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	c, err := hello(&greeted{Conn: nc, hello: greeting}, cfg)
	if err != nil {
		return nil, nil, err
	}
	p.note(c, nc)
	if cfg.TLS != StartTLS {
		return c, nc, nil
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		p.TLSErr = &Error{Command: "TLS", Message: "relay does not offer STARTTLS", Relay: true, Permanent: true}
		return nil, nil, nil
	}
	tc, err := startTLS(nc, cfg)
	if err != nil {
		p.TLSErr = Classify("TLS", err)
		return nil, nil, nil
	}
	if c, err = hello(&greeted{Conn: tc, hello: []byte("220 after STARTTLS\r\n")}, cfg); err != nil {
		return nil, nil, err
	}
	p.note(c, tc)
	return c, tc, nil
}

// note records the extensions offered and the TLS state of stream.
func (p *Probe) note(c *smtp.Client, stream net.Conn) {
	clear(p.Ext)
	for _, name := range probedExt {
		if ok, param := c.Extension(name); ok {
			p.Ext[name] = strings.TrimSpace(param)
		}
	}
	if tc, ok := stream.(*tls.Conn); ok && tlsDone(tc) {
		st := tc.ConnectionState()
		p.TLS = &st
	}
}
