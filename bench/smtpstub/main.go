// Command smtpstub is the benchmark's own SMTP listener (go-smtp's server,
// which advertises PIPELINING and CHUNKING). It accepts and discards every
// message, answers RCPT with a 451 for one chosen domain (so a campaign can
// be left with deferred rows), and records when the first connection and the
// first complete message arrived: the resume benchmark measures from the
// start of `mailblast resume` to that moment.
//
//	smtpstub -listen 127.0.0.1:2525 [-defer-domain defer.example] [-events FILE]
//
// FILE gets "ready UNIXNANO" once it listens (wait for that line rather than
// probing the port: a probe would count as the first connection), then
// "first_conn UNIXNANO" and "first_msg UNIXNANO" as they happen, and
// "messages N rcpt_deferred M" when the stub is stopped (SIGTERM or SIGINT).
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"
)

type stub struct {
	deferSuffix string
	events      *os.File
	firstConn   sync.Once
	firstMsg    sync.Once
	messages    atomic.Int64
	deferred    atomic.Int64
}

func (s *stub) event(name string, t time.Time) {
	if s.events != nil {
		fmt.Fprintf(s.events, "%s %d\n", name, t.UnixNano())
	}
}

func (s *stub) NewSession(*smtp.Conn) (smtp.Session, error) {
	s.firstConn.Do(func() { s.event("first_conn", time.Now()) })
	return &session{s: s}, nil
}

type session struct{ s *stub }

func (*session) Reset()                               {}
func (*session) Logout() error                        { return nil }
func (*session) Mail(string, *smtp.MailOptions) error { return nil }
func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if ss.s.deferSuffix != "" && strings.HasSuffix(strings.ToLower(to), ss.s.deferSuffix) {
		ss.s.deferred.Add(1)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later (benchmark deferral)"}
	}
	return nil
}

func (ss *session) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	now := time.Now()
	ss.s.firstMsg.Do(func() { ss.s.event("first_msg", now) })
	ss.s.messages.Add(1)
	return nil
}

func main() {
	listen := flag.String("listen", "", "address to listen on (127.0.0.1:PORT)")
	deferDomain := flag.String("defer-domain", "", "answer RCPT TO this domain with 451 4.3.0")
	events := flag.String("events", "", "file for first_conn/first_msg times and the final counts")
	flag.Parse()
	if *listen == "" || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(64)
	}
	s := &stub{}
	if *deferDomain != "" {
		s.deferSuffix = "@" + strings.ToLower(*deferDomain)
	}
	if *events != "" {
		f, err := os.OpenFile(*events, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		s.events = f
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	s.event("ready", time.Now())
	srv := smtp.NewServer(s)
	srv.Domain = "smtpstub"
	srv.MaxRecipients = 1000
	srv.MaxMessageBytes = 64 << 20
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = log.New(io.Discard, "", 0)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	select {
	case <-sig:
	case err := <-done:
		log.Print(err)
	}
	srv.Close()
	if s.events != nil {
		fmt.Fprintf(s.events, "messages %d rcpt_deferred %d\n", s.messages.Load(), s.deferred.Load())
	}
}
