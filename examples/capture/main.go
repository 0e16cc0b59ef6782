// Command capture is a tiny SMTP relay for the quick start: it accepts every
// message on a loopback address and writes each one to a directory as an
// .eml file, so the demo needs nothing installed but Go.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"

	"github.com/emersion/go-smtp"
)

type backend struct {
	dir string
	n   atomic.Int64
}

func (b *backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{b: b}, nil }

type session struct {
	b  *backend
	to string
}

func (s *session) Mail(string, *smtp.MailOptions) error { return nil }
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = to
	return nil
}
func (s *session) Reset()        { s.to = "" }
func (s *session) Logout() error { return nil }

func (s *session) Data(r io.Reader) error {
	n := s.b.n.Add(1)
	path := filepath.Join(s.b.dir, fmt.Sprintf("%06d.eml", n))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.Copy(f, r); err != nil {
		return err
	}
	fmt.Printf("capture: message %d for %s -> %s\n", n, s.to, path)
	return nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "loopback address to listen on (port 0: a free one)")
	dir := flag.String("dir", "captured", "directory for the .eml files")
	portFile := flag.String("port-file", "", "write the port actually listened on to this file")
	flag.Parse()
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		log.Fatal(err)
	}
	// Listen first, then say where: a caller that reads the port file knows
	// it talks to this relay and not to whatever else held a fixed port.
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	s := smtp.NewServer(&backend{dir: *dir})
	s.Domain = "capture.localhost"
	port := ln.Addr().(*net.TCPAddr).Port
	if *portFile != "" {
		if err := os.WriteFile(*portFile, []byte(strconv.Itoa(port)), 0o600); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Printf("capture: listening on %s, writing to %s\n", ln.Addr(), *dir)
	log.Fatal(s.Serve(ln))
}
