package sendertest

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// serveConn runs one accepted connection. Each connection gets its own
// go-smtp Server: go-smtp's Debug writer, which carries the transcript, is
// per Server and carries no connection identity.
func (s *Server) serveConn(raw net.Conn, seq int) {
	defer s.wg.Done()
	defer func() {
		raw.Close()
		s.mu.Lock()
		delete(s.live, seq)
		s.mu.Unlock()
	}()

	if s.stalled() {
		<-s.done // not even a greeting
		return
	}
	if s.down.Load() {
		s.turnAway(raw)
		return
	}

	t := &tap{srv: s, conn: seq}
	l := &oneConnListener{addr: s.ln.Addr(), closed: make(chan struct{})}
	var conn net.Conn = &tapConn{Conn: raw, srv: s, tap: t, onClose: l.close}
	if s.opts.ImplicitTLS {
		// go-smtp does the handshake itself when it is handed a *tls.Conn.
		conn = tls.Server(conn, s.tlsConfig)
	}
	l.conn = conn

	srv := s.newSMTPServer(seq, t)
	_ = srv.Serve(l) // returns once the connection is closed
	// Shutdown waits for go-smtp's connection goroutine to finish. Its Add
	// happened before Serve returned, so this Wait cannot race it.
	_ = srv.Shutdown(context.Background())
}

func (s *Server) newSMTPServer(seq int, t *tap) *smtp.Server {
	srv := smtp.NewServer(&backend{srv: s, conn: seq})
	srv.Domain = "localhost"
	srv.ReadTimeout = ioTimeout
	srv.WriteTimeout = ioTimeout
	srv.MaxMessageBytes = maxMessageBytes
	srv.MaxRecipients = maxRecipients
	srv.AllowInsecureAuth = !s.opts.TLS && !s.opts.ImplicitTLS
	srv.EnableDSN = s.opts.DSN
	if s.opts.TLS && !s.opts.ImplicitTLS {
		srv.TLSConfig = s.tlsConfig // offers STARTTLS
	}
	srv.Debug = t
	srv.ErrorLog = testLogger{s}
	return srv
}

// turnAway answers a new connection with ErrServiceNotAvailable, after the
// TLS handshake with ImplicitTLS, and closes it.
func (s *Server) turnAway(raw net.Conn) {
	raw.SetDeadline(time.Now().Add(hangUpTimeout))
	w := raw
	if s.opts.ImplicitTLS {
		tc := tls.Server(raw, s.tlsConfig)
		if err := tc.Handshake(); err != nil {
			return
		}
		defer tc.Close()
		w = tc
	}
	// Turning away: whether the client reads the reply is its affair.
	_, _ = io.WriteString(w, formatReply(ErrServiceNotAvailable))
}

// hangUp writes e itself and closes the connection, for the replies after
// which a real server hangs up (go-smtp's Conn.Reject has a fixed text). The
// go-smtp connection then fails its next read and ends; its own attempt to
// write the returned error goes nowhere.
func hangUp(c *smtp.Conn, e *smtp.SMTPError) error {
	nc := c.Conn()
	nc.SetWriteDeadline(time.Now().Add(hangUpTimeout))
	_, _ = io.WriteString(nc, formatReply(e)) // hanging up: a failed write changes nothing
	nc.Close()
	return e
}

// tapConn is the raw connection under go-smtp (and under TLS). It tells the
// tap when the server writes, so the tap can tell replies from client bytes
// in go-smtp's Debug stream, and it stops reading while the server is stalled.
type tapConn struct {
	net.Conn
	srv     *Server
	tap     *tap
	onClose func()
}

func (c *tapConn) Read(p []byte) (int, error) {
	if c.srv.stalled() {
		<-c.srv.done
		return 0, net.ErrClosed
	}
	n, err := c.Conn.Read(p)
	c.tap.wrote.Store(false)
	return n, err
}

func (c *tapConn) Write(p []byte) (int, error) {
	c.tap.wrote.Store(true)
	return c.Conn.Write(p)
}

func (c *tapConn) Close() error {
	c.onClose()
	return c.Conn.Close()
}

// oneConnListener hands go-smtp's Serve a single connection, then blocks
// until that connection is closed.
type oneConnListener struct {
	addr net.Addr

	mu     sync.Mutex
	conn   net.Conn // until the first Accept
	once   sync.Once
	closed chan struct{}
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	c := l.conn
	l.conn = nil
	l.mu.Unlock()
	if c != nil {
		return c, nil
	}
	<-l.closed
	return nil, net.ErrClosed
}

func (l *oneConnListener) close()         { l.once.Do(func() { close(l.closed) }) }
func (l *oneConnListener) Close() error   { l.close(); return nil }
func (l *oneConnListener) Addr() net.Addr { return l.addr }
