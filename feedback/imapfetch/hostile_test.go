package imapfetch_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailblast/mailblast/feedback/imapfetch"
	"github.com/mailblast/mailblast/sender"
)

// scripted is an IMAP server that says what a test wants: here, a mailbox
// of three messages whose second is far bigger than announced, each body
// sent only once the previous message was handled (gate).
type scripted struct {
	ln     net.Listener
	bodies [][]byte
	gate   chan struct{}
	login  string // the reply to LOGIN, after the tag; "" is OK
	// hook, when set, sees each command first (upper case, without the
	// tag); true means it answered, tagged line included, or never will.
	hook func(tag, up string, w *bufio.Writer) bool
}

func (s *scripted) serve(t *testing.T) {
	c, err := s.ln.Accept()
	if err != nil {
		return
	}
	defer c.Close()
	w := bufio.NewWriter(c)
	say := func(format string, args ...any) { fmt.Fprintf(w, format+"\r\n", args...); w.Flush() }
	say("* OK [CAPABILITY IMAP4rev1 MOVE UIDPLUS] scripted")
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		tag, cmd, _ := strings.Cut(sc.Text(), " ")
		if s.hook != nil && s.hook(tag, strings.ToUpper(cmd), w) {
			continue
		}
		switch up := strings.ToUpper(cmd); {
		case strings.HasPrefix(up, "CAPABILITY"):
			say("* CAPABILITY IMAP4rev1 MOVE UIDPLUS")
		case strings.HasPrefix(up, "SELECT"):
			say("* %d EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT %d] ok", len(s.bodies), len(s.bodies)+1)
		case strings.Contains(up, "RFC822.SIZE"):
			for i := range s.bodies {
				say("* %d FETCH (UID %d RFC822.SIZE 100)", i+1, i+1)
			}
		case strings.Contains(up, "BODY.PEEK[]"):
			s.sendBodies(t, w)
		case strings.HasPrefix(up, "LOGIN") && s.login != "":
			say("%s %s", tag, s.login)
			continue
		case strings.HasPrefix(up, "LOGOUT"):
			say("* BYE bye")
		}
		say("%s OK done", tag)
	}
}

func (s *scripted) sendBodies(t *testing.T, w *bufio.Writer) {
	for i, b := range s.bodies {
		if i > 0 {
			select {
			case <-s.gate:
			case <-time.After(10 * time.Second):
				t.Errorf("message %d was not handled before message %d was sent", i, i+1)
			}
		}
		fmt.Fprintf(w, "* %d FETCH (UID %d BODY[] {%d}\r\n", i+1, i+1, len(b))
		w.Write(b)
		w.WriteString(")\r\n")
		w.Flush()
	}
}

// A server cannot make a pass hold more than one message, nor more than
// MaxMessage of one, whatever sizes it announces: each message is handled
// as it arrives, and a body longer than MaxMessage is unreadable.
func TestLyingServerCannotGrowMemory(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	small := []byte("From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n")
	srv := &scripted{ln: ln, gate: make(chan struct{}, 3),
		bodies: [][]byte{small, bytes.Repeat([]byte("x"), imapfetch.MaxMessage+10), small}}
	go srv.serve(t)
	cfg := imapfetch.Config{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, TLS: sender.NoTLS,
		Username: "u", Password: "p", Mailbox: "INBOX", Processed: "done"}
	s, err := imapfetch.Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, _ := imapfetch.LoadState(filepath.Join(t.TempDir(), "fetch.json"))
	var got []string
	res, err := s.Run(context.Background(), st, false, func(ctx context.Context, m imapfetch.Message) (bool, error) {
		got = append(got, fmt.Sprintf("%d:%d", m.UID, len(m.Raw)))
		srv.gate <- struct{}{}
		return false, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("1:%d 2:0 3:%d", len(small), len(small))
	if strings.Join(got, " ") != want || res.Examined != 3 {
		t.Fatalf("handled %v (%+v), want %s", got, res, want)
	}
}

// A login the server cannot check just now ([UNAVAILABLE], RFC 5530) is
// a server to try again later (75), not a wrong password (77).
func TestLoginUnavailableIsTemporary(t *testing.T) {
	for reply, want := range map[string]error{
		"NO [UNAVAILABLE] Temporary authentication failure.": imapfetch.ErrUnreachable,
		"NO [AUTHENTICATIONFAILED] Authentication failed.":   imapfetch.ErrLoginRefused,
	} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &scripted{ln: ln, login: reply}
		go srv.serve(t)
		cfg := imapfetch.Config{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, TLS: sender.NoTLS,
			Username: "u", Password: "p", Mailbox: "INBOX", Processed: "done"}
		_, err = imapfetch.Dial(context.Background(), cfg)
		ln.Close()
		if !errors.Is(err, want) {
			t.Errorf("%s: Dial: %v, want %v", reply, err, want)
		}
	}
}
