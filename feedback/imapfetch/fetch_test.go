package imapfetch_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailblast/mailblast/feedback/imapfetch"
	"github.com/mailblast/mailblast/feedback/imapfetch/dovecottest"
	"github.com/mailblast/mailblast/sender"
)

func config(t *testing.T, srv *dovecottest.Server, mode sender.TLSMode) imapfetch.Config {
	cfg := imapfetch.Config{Host: srv.Host(), Port: srv.PlainPort, TLS: mode, Username: srv.User, Password: srv.Password,
		Mailbox: "INBOX", Processed: "mailblast-processed"}
	if mode == sender.Implicit && srv.TLSPort != 0 {
		cfg.Port = srv.TLSPort
	}
	if srv.CertFile != "" {
		pem, err := os.ReadFile(srv.CertFile)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		cfg.TLSConfig = &tls.Config{RootCAs: pool}
	}
	return cfg
}

func message(n int, act bool) []byte {
	return fmt.Appendf(nil, "From: someone@example.org\r\nTo: bounces@example.com\r\nSubject: test %d\r\nMessage-ID: <m%d@example.org>\r\nX-Act: %v\r\n\r\nbody %d\r\n", n, n, act, n)
}

// actOn acts on messages whose X-Act header is true, and records every
// UID it was handed.
type actOn struct{ seen []uint32 }

func (a *actOn) handle(ctx context.Context, m imapfetch.Message) (bool, error) {
	a.seen = append(a.seen, m.UID)
	return bytes.Contains(m.Raw, []byte("X-Act: true")), nil
}

func pass(t *testing.T, cfg imapfetch.Config, st *imapfetch.StateFile) (imapfetch.Result, *actOn) {
	t.Helper()
	s, err := imapfetch.Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h := &actOn{}
	res, err := s.Run(context.Background(), st, false, h.handle)
	if err != nil {
		t.Fatal(err)
	}
	return res, h
}

func subjects(msgs []dovecottest.Message) []string {
	var out []string
	for _, m := range msgs {
		for _, line := range strings.Split(string(m.Raw), "\r\n") {
			if s, ok := strings.CutPrefix(line, "Subject: "); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

func untouched(t *testing.T, msgs []dovecottest.Message) {
	t.Helper()
	for _, m := range msgs {
		if m.Seen() || m.Deleted() {
			t.Errorf("%s: flags %q, want neither seen nor deleted", m.File, m.Flags)
		}
	}
}

func TestMovesOnlyWhatItActedOnAndRemembers(t *testing.T) {
	for _, mode := range []sender.TLSMode{sender.Implicit, sender.StartTLS} {
		t.Run(mode.String(), func(t *testing.T) {
			srv := dovecottest.Start(t, dovecottest.Options{TLS: true})
			for i := 1; i <= 4; i++ {
				srv.Deliver(t, "", message(i, i%2 == 0))
			}
			st, err := imapfetch.LoadState(filepath.Join(t.TempDir(), "fetch.json"))
			if err != nil {
				t.Fatal(err)
			}
			res, h := pass(t, config(t, srv, mode), st)
			if res.Examined != 4 || res.Moved != 2 || len(h.seen) != 4 {
				t.Fatalf("first pass: %+v, handled %v; want 4 examined, 2 moved", res, h.seen)
			}
			inbox, done := srv.Messages(t, "INBOX"), srv.Messages(t, "mailblast-processed")
			if got := subjects(inbox); strings.Join(got, ",") != "test 1,test 3" {
				t.Errorf("INBOX holds %v, want test 1 and test 3", got)
			}
			if got := subjects(done); strings.Join(got, ",") != "test 2,test 4" {
				t.Errorf("processed holds %v, want test 2 and test 4", got)
			}
			untouched(t, inbox)
			untouched(t, done)

			res, h = pass(t, config(t, srv, mode), st)
			if res.Examined != 0 || len(h.seen) != 0 {
				t.Fatalf("second pass: %+v, handled %v; want nothing read", res, h.seen)
			}
			srv.Deliver(t, "", message(5, true))
			res, h = pass(t, config(t, srv, mode), st)
			if res.Examined != 1 || res.Moved != 1 {
				t.Fatalf("third pass: %+v, handled %v; want only the new message", res, h.seen)
			}
		})
	}
}

func TestStateSurvivesReloadAndUIDValidityChangeStartsOver(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Options{})
	for i := 1; i <= 3; i++ {
		srv.Deliver(t, "", message(i, false))
	}
	path := filepath.Join(t.TempDir(), "fetch.json")
	st, _ := imapfetch.LoadState(path)
	cfg := config(t, srv, sender.NoTLS)
	if res, _ := pass(t, cfg, st); res.Examined != 3 {
		t.Fatalf("first pass examined %d, want 3", res.Examined)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	st, _ = imapfetch.LoadState(path)
	if res, _ := pass(t, cfg, st); res.Examined != 0 {
		t.Fatalf("pass after reload examined %d, want 0", res.Examined)
	}
	mark := st.Get(cfg.Host, cfg.Username, cfg.Mailbox)
	if mark.LastUID != 3 {
		t.Fatalf("mark %+v, want last UID 3", mark)
	}
	mark.UIDValidity++ // as if the mailbox was recreated
	if err := st.Put(mark); err != nil {
		t.Fatal(err)
	}
	res, _ := pass(t, cfg, st)
	if res.Examined != 3 || !res.Reset {
		t.Fatalf("after a UIDVALIDITY change: %+v, want all 3 examined again and Reset", res)
	}
	untouched(t, srv.Messages(t, "INBOX"))
}

// Without MOVE, the fallback expunges exactly the UIDs it copied: another
// message already marked \Deleted (by a person, in their mail client) stays.
func TestFallbackWithoutMoveExpungesOnlyItsOwn(t *testing.T) {
	for _, tc := range []struct {
		caps        string
		moved, kept int
	}{
		{"IMAP4rev1 UIDPLUS", 1, 0},
		{"IMAP4rev1", 0, 1},
	} {
		t.Run(tc.caps, func(t *testing.T) {
			srv := dovecottest.Start(t, dovecottest.Options{Capability: tc.caps})
			srv.Deliver(t, "", message(1, false))
			srv.Deliver(t, "", message(2, true))
			deleteFlag(t, srv)
			st, _ := imapfetch.LoadState(filepath.Join(t.TempDir(), "fetch.json"))
			res, _ := pass(t, config(t, srv, sender.NoTLS), st)
			if res.Moved != tc.moved || res.Kept != tc.kept {
				t.Fatalf("%+v, want %d moved, %d kept", res, tc.moved, tc.kept)
			}
			inbox := srv.Messages(t, "INBOX")
			want := "test 1,test 2"
			if tc.moved == 1 {
				want = "test 1"
			}
			if got := strings.Join(subjects(inbox), ","); got != want {
				t.Fatalf("INBOX holds %s, want %s", got, want)
			}
			if !inbox[0].Deleted() {
				t.Fatalf("message 1 lost its \\Deleted flag: %q", inbox[0].Flags)
			}
		})
	}
}

// deleteFlag marks INBOX's first message \Deleted in its Maildir name, as
// a mail client would have.
func deleteFlag(t *testing.T, srv *dovecottest.Server) {
	t.Helper()
	m := srv.Messages(t, "INBOX")[0]
	dst := filepath.Join(filepath.Dir(filepath.Dir(m.File)), "cur", filepath.Base(m.File)+":2,T")
	if err := os.Rename(m.File, dst); err != nil {
		t.Fatal(err)
	}
}

func TestRefusals(t *testing.T) {
	plain := dovecottest.Start(t, dovecottest.Options{})
	tlsSrv := dovecottest.Start(t, dovecottest.Options{TLS: true})
	var se *imapfetch.SettingError
	cases := []struct {
		name string
		cfg  func() imapfetch.Config
		want func(error) bool
	}{
		{"starttls refused", func() imapfetch.Config { return config(t, plain, sender.StartTLS) },
			func(err error) bool { return errors.As(err, &se) && se.Key == "feedback.imap.tls" }},
		{"tls to a plain port", func() imapfetch.Config { return config(t, plain, sender.Implicit) },
			func(err error) bool { return errors.As(err, &se) && se.Key == "feedback.imap.tls" }},
		{"unknown CA", func() imapfetch.Config {
			c := config(t, tlsSrv, sender.Implicit)
			c.TLSConfig = nil
			return c
		}, func(err error) bool { return errors.As(err, &se) && se.Key == "feedback.imap.tls" }},
		{"wrong password", func() imapfetch.Config {
			c := config(t, tlsSrv, sender.Implicit)
			c.Password = "not-the-password"
			return c
		}, func(err error) bool { return errors.Is(err, imapfetch.ErrLoginRefused) }},
		{"nobody listening", func() imapfetch.Config {
			c := config(t, plain, sender.NoTLS)
			c.Port = 1
			return c
		}, func(err error) bool { return errors.Is(err, imapfetch.ErrUnreachable) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg()
			if cfg.Port == 1 {
				cfg.Port = closedPort(t)
			}
			s, err := imapfetch.Dial(context.Background(), cfg)
			if err == nil {
				s.Close()
				t.Fatal("Dial succeeded")
			}
			if !tc.want(err) {
				t.Fatalf("Dial: %v (%T)", err, err)
			}
			if strings.Contains(err.Error(), cfg.Password) {
				t.Fatalf("the error holds the password: %v", err)
			}
		})
	}
	if log := plain.Log(); strings.Contains(log, "auth") && strings.Contains(log, "Login:") {
		t.Errorf("the plain server saw a login:\n%s", log)
	}
}
