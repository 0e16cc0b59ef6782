package sendertest

import (
	"bytes"
	"io"
	"net/mail"
	"strings"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// dropReadBytes is how much of a dropped message body is read first.
const dropReadBytes = 64

// backend makes the sessions of one connection. go-smtp makes a new session
// after STARTTLS, so per-connection counts live in Server, not in session.
type backend struct {
	srv  *Server
	conn int
}

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	if err := b.srv.hold(); err != nil {
		return nil, err
	}
	if b.srv.down.Load() {
		return nil, hangUp(c, ErrServiceNotAvailable)
	}
	return &session{srv: b.srv, conn: b.conn, c: c}, nil
}

// session is used only by its connection's goroutine.
type session struct {
	srv    *Server
	conn   int
	c      *smtp.Conn
	authed bool
	from   string
	rcpts  []string
	envID  string
	orcpt  []string
}

var _ smtp.AuthSession = (*session)(nil)

func (se *session) Mail(from string, opts *smtp.MailOptions) error {
	s := se.srv
	if err := s.hold(); err != nil {
		return err
	}
	if s.down.Load() {
		return hangUp(se.c, ErrServiceNotAvailable)
	}
	if (s.opts.Username != "" || s.opts.Bearer != nil) && !se.authed {
		return ErrAuthRequired
	}
	if n := s.opts.Faults.Reply421AfterN; n > 0 && s.acceptedOn(se.conn) >= n {
		return hangUp(se.c, ErrTooManyMessages)
	}
	se.from = from
	se.rcpts, se.orcpt, se.envID = nil, nil, ""
	if opts != nil {
		se.envID = opts.EnvelopeID
	}
	return nil
}

func (se *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	s := se.srv
	if err := s.hold(); err != nil {
		return err
	}
	if s.down.Load() {
		return hangUp(se.c, ErrServiceNotAvailable)
	}
	attempt := s.countRcpt(to)
	if f := s.opts.Faults.Rcpt; f != nil {
		if e := f(to, attempt); e != nil {
			return e
		}
	}
	se.rcpts = append(se.rcpts, to)
	orcpt := ""
	if opts != nil && opts.OriginalRecipient != "" {
		orcpt = string(opts.OriginalRecipientType) + ";" + opts.OriginalRecipient
	}
	se.orcpt = append(se.orcpt, orcpt)
	return nil
}

func (se *session) Data(r io.Reader) error {
	s := se.srv
	if err := s.hold(); err != nil {
		return err
	}
	if s.dropThisData() {
		_, _ = io.CopyN(io.Discard, r, dropReadBytes) // part of the body, then the drop
		se.c.Conn().Close()
		return errDropped
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return err // ErrDataTooLarge is an *smtp.SMTPError; anything else is a dead connection
	}
	if s.down.Load() {
		return hangUp(se.c, ErrServiceNotAvailable)
	}
	rcpts := append([]string(nil), se.rcpts...)
	if f := s.opts.Faults.Data; f != nil {
		if e := f(rcpts, data); e != nil {
			return e
		}
	}
	if s.opts.Faults.SilentAfterDot {
		return s.silence(se.c)
	}
	id, subject := parseHeader(data)
	if s.opts.DiscardData {
		data = nil
	}
	s.record(Message{From: se.from, To: rcpts, Data: data, MessageID: id, Subject: subject, Conn: se.conn,
		EnvID: se.envID, ORCPT: append([]string(nil), se.orcpt...)})
	return nil
}

// silence holds the reply to a final dot until the client hangs up or the
// server closes. go-smtp reads nothing while Data runs, so a goroutine
// watches the connection for the client's close.
func (s *Server) silence(c *smtp.Conn) error {
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		_, _ = io.Copy(io.Discard, c.Conn()) // until the client gives up
	}()
	select {
	case <-gone:
	case <-s.done:
	}
	c.Conn().Close()
	return errDropped
}

func (se *session) Reset() {
	se.from, se.envID = "", ""
	se.rcpts, se.orcpt = nil, nil
}

func (se *session) Logout() error { return nil }

func (se *session) AuthMechanisms() []string {
	if se.srv.opts.Bearer != nil {
		return se.srv.bearerMechanisms()
	}
	if se.srv.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

func (se *session) Auth(mech string) (sasl.Server, error) {
	if se.srv.opts.Bearer != nil {
		return se.bearerAuth(mech)
	}
	if se.srv.opts.Username == "" {
		return nil, smtp.ErrAuthUnsupported
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(se.login), nil
	case sasl.Login:
		return &loginServer{authenticate: se.login}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (se *session) login(identity, username, password string) error {
	o := se.srv.opts
	if (identity != "" && identity != username) || username != o.Username || password != o.Password {
		return smtp.ErrAuthFailed
	}
	se.authed = true
	return nil
}

// loginServer is the server side of SASL LOGIN, which go-sasl lacks. With an
// initial response (as go-sasl's client sends) that is the username.
type loginServer struct {
	authenticate sasl.PlainAuthenticator
	state        int
	username     string
}

func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch l.state {
	case 0:
		l.state = 1
		if response == nil {
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		l.username = string(response)
		l.state = 2
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.authenticate("", l.username, string(response))
	}
}

func (s *Server) acceptedOn(conn int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.perConn[conn]
}

func (s *Server) countRcpt(addr string) int {
	key := strings.ToLower(addr)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rcptSeen[key]++
	return s.rcptSeen[key]
}

func (s *Server) dropThisData() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dataSeen++
	n := s.opts.Faults.DropInDataEvery
	return n > 0 && s.dataSeen%n == 0
}

func (s *Server) record(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = append(s.messages, m)
	s.accepted.Store(int64(len(s.messages)))
	s.perConn[m.Conn]++
	n := s.perConn[m.Conn]
	s.maxOnConn = max(s.maxOnConn, n)
	if limit := s.opts.Faults.MaxMessagesPerConn; limit > 0 && n > limit {
		s.violations++
	}
}

func (s *Server) recordCommand(conn int, verb string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commands = append(s.commands, command{conn: conn, verb: verb})
	if len(s.commands) >= 2*maxCommands {
		s.commands = append([]command(nil), s.commands[len(s.commands)-maxCommands:]...)
	}
}

// parseHeader returns the trimmed Message-ID and Subject header values.
func parseHeader(data []byte) (messageID, subject string) {
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return "", ""
	}
	return strings.TrimSpace(m.Header.Get("Message-Id")), strings.TrimSpace(m.Header.Get("Subject"))
}
