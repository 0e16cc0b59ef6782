package sendertest

import (
	"slices"
	"strings"
	"testing"
)

// TestTapSplitWrites feeds the transcript parser the way go-smtp's Debug
// writer could see a session: client bytes in arbitrary pieces (here one byte
// at a time), reply lines whole, each right after a write to the connection.
func TestTapSplitWrites(t *testing.T) {
	const longLine = "This body line is long enough to be dropped before its end arrives.\r\n"
	steps := []struct{ client, reply string }{
		{"", "220 localhost ESMTP Service Ready\r\n"}, // greeting: nothing waits for it
		{"EHLO client\r\n", "250-Hello client\r\n250 AUTH PLAIN LOGIN\r\n"},
		{"AUTH LOGIN dXNlcg==\r\n", "334 UGFzc3dvcmQ6\r\n"},
		{"MAIL FROM:<not-a-command@example.com>\r\n", "235 2.0.0 Authentication succeeded\r\n"}, // SASL response
		{"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n", "250 2.0.0 OK\r\n"},
		{"", "250 2.0.0 OK\r\n"},
		{"", "354 Go ahead\r\n"},
		{"QUIT\r\n" + longLine + "x.\r\n" + "..\r\n" + ".\r\n", "250 2.0.0 OK: queued\r\n"}, // ".." is a stuffed "."
		{"bogus\r\n", "501 5.5.2 Bad command\r\n"},
		{"DATA\r\n", "502 5.5.1 Missing RCPT TO command.\r\n"},
		{"RSET\r\n", "250 2.0.0 Session reset\r\n"},
		{"STARTTLS\r\nEHLO lost-in-handshake\r\n", "220 2.0.0 Ready to start TLS\r\n"},
		{"EHLO client\r\n", "250 Hello client\r\n"},
		{"BDAT 12 LAST\r\nRSET\r\nNOOP", ""},
		{"\r\nQUIT\r\n", "250 2.0.0 OK: queued\r\n"},
	}
	s := &Server{}
	tp := &tap{srv: s, conn: 1}
	for _, step := range steps {
		for i := range len(step.client) {
			tp.Write([]byte(step.client[i : i+1]))
		}
		for _, line := range strings.SplitAfter(step.reply, "\r\n") {
			if line != "" {
				tp.wrote.Store(true)
				tp.Write([]byte(line))
			}
		}
	}
	want := []string{"EHLO", "AUTH", "MAIL", "RCPT", "DATA", "DATA", "RSET", "STARTTLS", "EHLO", "BDAT", "QUIT"}
	if got := s.Commands(); !slices.Equal(got, want) {
		t.Errorf("commands:\n got %v\nwant %v", got, want)
	}
	if len(tp.waiting) != 1 || tp.waiting[0] != "QUIT" {
		t.Errorf("waiting for replies to %v, want [QUIT]", tp.waiting)
	}
}

func TestCommandsBounded(t *testing.T) {
	s := &Server{}
	for i := range 2*maxCommands + 10 {
		s.recordCommand(1, []string{"MAIL", "RCPT"}[i%2])
	}
	got := s.Commands()
	if len(got) != maxCommands || got[len(got)-1] != "RCPT" || len(s.commands) >= 2*maxCommands {
		t.Errorf("kept %d (stored %d), last %q", len(got), len(s.commands), got[len(got)-1])
	}
}
