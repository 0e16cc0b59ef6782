// Command capture is a tiny SMTP relay for the quick start: it accepts every
// message on a loopback address and writes each one to a directory as an
// .eml file, so the demo needs nothing installed but Go.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
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
	addr := flag.String("addr", "127.0.0.1:1025", "loopback address to listen on")
	dir := flag.String("dir", "captured", "directory for the .eml files")
	flag.Parse()
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		log.Fatal(err)
	}
	s := smtp.NewServer(&backend{dir: *dir})
	s.Addr, s.Domain = *addr, "capture.localhost"
	fmt.Printf("capture: listening on %s, writing to %s\n", *addr, *dir)
	log.Fatal(s.ListenAndServe())
}
