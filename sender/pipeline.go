package sender

import (
	"bufio"
	"bytes"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/emersion/go-smtp"
)

// pipe is mailblast's own reader and writer on the SMTP stream, used once
// go-smtp has set the connection up. go-smtp waits for every reply
// (upstream issue #203); with PIPELINING (RFC 2920) MAIL, RCPT and DATA go
// in one write, and with CHUNKING (RFC 3030) the whole message goes with
// them as BDAT LAST: one round trip per message instead of four.
type pipe struct {
	bw    *bufio.Writer
	tr    *textproto.Reader
	dsn   bool      // the relay offers DSN: ENVID and ORCPT go along
	last  *Error    // reply to the latest final dot
	after *Envelope // the message whose commands went with it
}

func (cn *conn) pipe() *pipe {
	if cn.p == nil {
		cn.p = &pipe{bw: bufio.NewWriterSize(cn.nc, 32<<10), tr: replyReader(cn.nc, 4<<10), dsn: cn.dsn}
	}
	return cn.p
}

// sendChunked sends one message as MAIL, RCPT and BDAT LAST with the whole
// content, in one write, and reads the three replies in order. sent: the
// content arrived whole and MAIL and RCPT were not refused outright, so
// the relay may have the message, whatever became of the replies.
func (cn *conn) sendChunked(m *Envelope) (e *Error, sent bool) {
	p := cn.pipe()
	p.envelope(m, cn.utf8 && m.UTF8)
	p.bw.WriteString("BDAT ")
	p.bw.WriteString(strconv.Itoa(len(m.Data)))
	p.bw.WriteString(" LAST\r\n")
	p.bw.Write(m.Data)
	if err := p.bw.Flush(); err != nil { // the content's end did not go out
		return Classify("MAIL", err), false
	}
	mail := readReply(p.tr, "MAIL", 250)
	rcpt := relayOr(mail, readReply(p.tr, "RCPT", 250))
	var bdat *Error
	m.Reply, bdat = readReplyText(p.tr, "DATA", 250)
	bdat = relayOr(rcpt, bdat)
	refused := (mail != nil && mail.Code != 0) || (rcpt != nil && rcpt.Code != 0)
	return cn.settle(p, first(mail, rcpt, bdat)), !refused
}

// envelope writes MAIL and RCPT straight into the buffer: no string is
// built per message, with or without the DSN parameters.
func (p *pipe) envelope(m *Envelope, utf8 bool) {
	dsn := p.dsn && m.EnvID != ""
	p.bw.WriteString("MAIL FROM:<")
	p.bw.WriteString(m.From)
	p.bw.WriteByte('>')
	if utf8 {
		p.bw.WriteString(" SMTPUTF8")
	}
	if dsn {
		p.bw.WriteString(" ENVID=")
		writeXtext(p.bw, m.EnvID)
	}
	p.bw.WriteString("\r\nRCPT TO:<")
	p.bw.WriteString(m.To)
	p.bw.WriteByte('>')
	if dsn && !m.UTF8 {
		p.bw.WriteString(" ORCPT=rfc822;")
		writeXtext(p.bw, m.To)
	}
	p.bw.WriteString("\r\n")
}

// writeXtext writes s as RFC 3461 xtext: printable ASCII but '+' and '='
// as itself, everything else as +XX.
func writeXtext(w *bufio.Writer, s string) {
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c > ' ' && c < 0x7f && c != '+' && c != '=' {
			w.WriteByte(c)
			continue
		}
		w.WriteByte('+')
		w.WriteByte(hexDigits[c>>4])
		w.WriteByte(hexDigits[c&0xf])
	}
}

// relayOr skips reading after relay trouble: the stream is gone.
func relayOr(prev, next *Error) *Error {
	if prev != nil && prev.Relay {
		return prev
	}
	return next
}

func first(errs ...*Error) *Error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// settle counts a good message, or closes a failed transaction with RSET
// so the connection can carry the next one.
func (cn *conn) settle(p *pipe, e *Error) *Error {
	switch {
	case e == nil:
		cn.sent++
	case e.Relay:
	default:
		p.bw.WriteString("RSET\r\n")
		if p.bw.Flush() != nil || readReply(p.tr, "RSET", 250) != nil {
			cn.sent = -1
		}
	}
	return e
}

func (p *pipe) quit() {
	p.bw.WriteString("QUIT\r\n")
	if p.bw.Flush() == nil {
		_, _, _ = p.tr.ReadResponse(221) // a courtesy before closing
	}
}

// readReply reads one reply and classifies it unless it is the expected one.
func readReply(tr *textproto.Reader, command string, expect int) *Error {
	_, e := readReplyText(tr, command, expect)
	return e
}

// readReplyText is readReply that also gives the text of the expected
// reply (a queue ID, after the final dot).
func readReplyText(tr *textproto.Reader, command string, expect int) (string, *Error) {
	code, msg, err := tr.ReadResponse(expect)
	if err == nil {
		return msg, nil
	}
	if _, ok := err.(*textproto.Error); !ok {
		return "", Classify(command, err)
	}
	return "", fromReply(command, replyError(code, msg))
}

// replyError splits an RFC 3463 enhanced code off the reply text, as
// go-smtp does for the replies it reads itself.
func replyError(code int, msg string) *smtp.SMTPError {
	se := &smtp.SMTPError{Code: code, Message: msg}
	head, rest, ok := strings.Cut(msg, " ")
	if !ok {
		return se
	}
	parts := strings.Split(head, ".")
	if len(parts) != 3 {
		return se
	}
	var ec smtp.EnhancedCode
	for i, part := range parts {
		n, err := strconv.Atoi(part)
		if err != nil {
			return se
		}
		ec[i] = n
	}
	se.EnhancedCode = ec
	se.Message = strings.ReplaceAll(rest, "\n"+head+" ", "\n")
	return se
}

// writeDotStuffed writes a message for DATA: a dot that starts a line is
// doubled (RFC 5321 4.5.2), bare LFs become CRLF, and the message ends
// with CRLF so the terminating dot is on a line of its own.
func writeDotStuffed(w *bufio.Writer, data []byte) {
	atLineStart := true
	for len(data) > 0 {
		if atLineStart && data[0] == '.' {
			w.WriteByte('.')
		}
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			w.Write(data)
			w.WriteString("\r\n")
			return
		}
		line := data[:i]
		if len(line) > 0 && line[len(line)-1] == '\r' {
			w.Write(data[:i+1])
		} else {
			w.Write(line)
			w.WriteString("\r\n")
		}
		data = data[i+1:]
		atLineStart = true
	}
}

// chain sends messages in DATA mode with the next message's MAIL, RCPT and
// DATA in the same flight as this one's content and final dot: RFC 2920
// 3.1 lets message content be the first "command" of a group. With a
// steady supply that is one round trip per message instead of two.
// next gives another envelope if one is ready now, or nil. done hears
// every message that got a reply. Relay trouble ends the chain (see
// trouble).
func (cn *conn) chain(m *Envelope, next func() *Envelope, done func(*Envelope, *Error)) *trouble {
	p := cn.pipe()
	p.envelope(m, cn.utf8 && m.UTF8)
	p.bw.WriteString("DATA\r\n")
	if err := p.bw.Flush(); err != nil {
		return &trouble{env: m, err: Classify("MAIL", err)}
	}
	for m != nil {
		mail := readReply(p.tr, "MAIL", 250)
		rcpt := relayOr(mail, readReply(p.tr, "RCPT", 250))
		data := relayOr(rcpt, readReply(p.tr, "DATA", 354))
		if e := first(mail, rcpt, data); e != nil && e.Relay {
			return &trouble{env: m, err: e}
		}
		if data != nil { // refused before the content: close it and start afresh
			done(m, cn.settle(p, first(mail, rcpt, data)))
			if m = cn.nextIfUsable(next, done); m == nil {
				return nil
			}
			p.envelope(m, cn.utf8 && m.UTF8)
			p.bw.WriteString("DATA\r\n")
			if err := p.bw.Flush(); err != nil {
				return &trouble{env: m, err: Classify("MAIL", err)}
			}
			continue
		}
		refused := mail != nil || rcpt != nil
		if t := cn.content(p, m, refused, next, done); t != nil {
			return t
		}
		final := first(mail, rcpt, p.last)
		if final == nil {
			cn.sent++
		}
		done(m, final)
		m = p.after
	}
	return nil
}

// content writes a message's content and final dot, the next message's
// commands if one is ready (kept in p.after), and reads the reply to the
// dot. Once the dot is out, a lost reply leaves the message with the
// relay, perhaps: sent.
func (cn *conn) content(p *pipe, m *Envelope, refused bool, next func() *Envelope, done func(*Envelope, *Error)) *trouble {
	body := m.Data
	if refused { // the relay accepted DATA after a failed command: send nothing
		body = nil
	}
	p.after = nil
	writeDotStuffed(p.bw, body)
	if _, err := p.bw.WriteString(".\r\n"); err != nil { // a write failed before the dot
		return &trouble{env: m, err: Classify("DATA", err)}
	}
	p.after = cn.nextIfUsable(next, done)
	if p.after != nil {
		p.envelope(p.after, cn.utf8 && p.after.UTF8)
		p.bw.WriteString("DATA\r\n")
	}
	if err := p.bw.Flush(); err != nil {
		return &trouble{env: m, sent: !refused, stray: p.after, err: Classify("DATA", err)}
	}
	m.Reply, p.last = readReplyText(p.tr, "DATA", 250)
	if p.last != nil && p.last.Relay {
		return &trouble{env: m, sent: !refused, stray: p.after, err: p.last}
	}
	return nil
}

// nextIfUsable takes another message only while the connection may carry
// it (smtp.max_messages_per_connection counts the one in progress). A
// message this connection cannot carry at all is reported through done
// and passed over. next may be nil: nothing to chain.
func (cn *conn) nextIfUsable(next func() *Envelope, done func(*Envelope, *Error)) *Envelope {
	for next != nil && cn.sent >= 0 && (cn.max <= 0 || cn.sent+1 < cn.max) {
		m := next()
		if m == nil {
			return nil
		}
		if e := cn.refuses(m); e != nil {
			done(m, e)
			continue
		}
		return m
	}
	return nil
}
