package imapfetch

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

// Bounds of one pass, whatever the server sends. imapclient reads a
// response line into memory until its LF, keeps reading as long as bytes
// come, and passes on every untagged response: without these, a server
// (or, before STARTTLS, anyone on the path) can fill memory with one
// endless line, or hold the pass, and the state lock, for ever.
const (
	// MaxBeforeLogin is all the server may send, after TLS, until the
	// login is answered: greeting, capabilities, STARTTLS and LOGIN
	// replies. Real ones send under 2 KiB.
	MaxBeforeLogin = 64 << 10
	// MaxLine is the most bytes between two LFs after login: a message
	// literal of MaxMessage and the FETCH line around it.
	MaxLine = MaxMessage + 64<<10
	// IdleTimeout ends a pass on a server that sends no byte for so long.
	IdleTimeout = 60 * time.Second
	// DefaultPassTimeout ends a pass that takes longer, from dial to logout.
	DefaultPassTimeout = 10 * time.Minute
	// fetchMargin is how many FETCH responses beyond the messages asked
	// for a command may bring (flag changes of other messages, say).
	fetchMargin = 100
)

// LimitError is a pass cut short by one of the bounds: a server to try
// again later, like one unreachable (exit 75). What was applied stays
// applied; the next pass reads those messages again, as duplicates.
type LimitError struct {
	Addr   string
	Reason string
}

func (e *LimitError) Error() string {
	return "IMAP pass cut short: " + e.Addr + ": " + e.Reason
}

func (e *LimitError) Unwrap() error { return ErrUnreachable }

// bounds watches one connection; the first bound hit is its cause.
type bounds struct {
	conn    net.Conn // the TCP connection, closed to end the pass
	timer   *time.Timer
	mu      sync.Mutex
	cause   string
	counted counter
	// FETCH responses the client passes on as unsolicited (it gives a
	// command each UID once) since the last FETCH began, and how many
	// that FETCH may bring.
	unasked, mayAsk int
	fetching        string
}

// newBounds starts the pass clock on conn.
func newBounds(conn net.Conn, pass time.Duration) *bounds {
	b := &bounds{conn: conn, mayAsk: fetchMargin, fetching: "login or SELECT"}
	b.timer = time.AfterFunc(pass, func() {
		b.trip(fmt.Sprintf("the pass took longer than feedback.imap.timeout (%s)", pass))
	})
	b.counted.b = b
	return b
}

// trip records why the pass ends (the first reason wins) and closes the
// connection, which ends whatever imapclient waits on.
func (b *bounds) trip(reason string) {
	b.mu.Lock()
	if b.cause == "" {
		b.cause = reason
	}
	b.mu.Unlock()
	_ = b.conn.Close()
}

func (b *bounds) reason() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cause
}

func (b *bounds) stop() { b.timer.Stop() }

// expect starts the count of unsolicited FETCH responses for a FETCH of
// asked messages.
func (b *bounds) expect(what string, asked int) {
	b.mu.Lock()
	b.unasked, b.mayAsk, b.fetching = 0, asked+fetchMargin, what
	b.mu.Unlock()
}

// unsolicited is imapclient's handler of FETCH responses no command asked
// for (flag changes made by other clients, or a server repeating itself):
// more than the last FETCH may bring end the pass.
func (b *bounds) unsolicited(msg *imapclient.FetchMessageData) {
	for msg.Next() != nil { // drains it: the client waits for that
	}
	b.mu.Lock()
	b.unasked++
	over := b.unasked > b.mayAsk
	what, limit := b.fetching, b.mayAsk
	b.mu.Unlock()
	if over {
		b.trip(fmt.Sprintf("the server sent more than %d unasked FETCH responses during a %s", limit, what))
	}
}

// explain replaces err by the bound that caused it, in one line.
func (b *bounds) explain(addr string, err error) error {
	if err == nil {
		return nil
	}
	if r := b.reason(); r != "" {
		return &LimitError{Addr: addr, Reason: r}
	}
	return err
}

// counter sees the bytes imapclient reads, after TLS (it is the client's
// DebugWriter, which tees every read; it sees the commands written too,
// which are short and only counted, never kept). An error from Write fails
// the read, and the pass.
type counter struct {
	b        *bounds
	mu       sync.Mutex // reads and writes tee from different goroutines
	loggedIn bool
	total    int64 // before login
	line     int64 // since the last LF
}

// login lifts the bound on the whole exchange: from now on, lines.
func (c *counter) login() {
	c.mu.Lock()
	c.loggedIn = true
	c.mu.Unlock()
}

func (c *counter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.loggedIn {
		if c.total += int64(len(p)); c.total > MaxBeforeLogin {
			return 0, c.fail(fmt.Sprintf("the server sent more than %d KiB before the login was answered", MaxBeforeLogin>>10))
		}
		return len(p), nil
	}
	if lf := bytes.LastIndexByte(p, '\n'); lf >= 0 {
		c.line = int64(len(p) - lf - 1)
	} else {
		c.line += int64(len(p))
	}
	if c.line > MaxLine {
		return 0, c.fail(fmt.Sprintf("the server sent a line longer than %d MiB + %d KiB (the largest message read, and its FETCH line)", MaxMessage>>20, (MaxLine-MaxMessage)>>10))
	}
	return len(p), nil
}

func (c *counter) fail(reason string) error {
	c.b.trip(reason)
	return fmt.Errorf("%s", reason)
}

// idleConn is the TCP connection with a read deadline of IdleTimeout
// from each read, or the client's own deadline when that is sooner:
// imapclient sets its own deadlines on the connection it is given
// (up to 5 minutes for a literal, none between responses), so a bound of
// ours must live below it.
type idleConn struct {
	net.Conn
	b     *bounds
	idle  time.Duration
	mu    sync.Mutex
	asked time.Time // the client's read deadline
}

func (c *idleConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.asked = t
	c.mu.Unlock()
	return nil
}

func (c *idleConn) SetDeadline(t time.Time) error {
	_ = c.SetReadDeadline(t)
	return c.SetWriteDeadline(t) // the embedded conn's: writes keep their own deadline
}

func (c *idleConn) Read(p []byte) (int, error) {
	d := time.Now().Add(c.idle)
	c.mu.Lock()
	asked := c.asked
	c.mu.Unlock()
	ours := asked.IsZero() || d.Before(asked)
	if !ours {
		d = asked
	}
	_ = c.Conn.SetReadDeadline(d)
	n, err := c.Conn.Read(p)
	var ne net.Error
	if ours && err != nil && errors.As(err, &ne) && ne.Timeout() {
		c.b.trip(fmt.Sprintf("the server sent nothing for %s", c.idle))
	}
	return n, err
}
