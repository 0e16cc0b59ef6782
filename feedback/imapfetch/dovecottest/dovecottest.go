// Package dovecottest starts a private Dovecot IMAP server on loopback for
// tests: one passwd-file user, a Maildir, a plain listener and, with TLS, an
// implicit-TLS listener and STARTTLS on the plain one, both with a
// self-signed certificate the test can trust. Nothing listens beyond
// 127.0.0.1, and the server stops when the test ends.
//
// Files dropped into Maildir/new appear in INBOX; tests look at the
// Maildir directly to see flags and folders without touching them over
// IMAP (a look over IMAP could itself change what it looks at).
package dovecottest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Options shape the server.
type Options struct {
	// TLS adds the implicit-TLS listener and STARTTLS; without it the
	// server speaks only plain IMAP (ssl = no).
	TLS bool
	// Capability replaces what the server advertises after login (Dovecot's
	// imap_capability), e.g. to hide MOVE; "" keeps Dovecot's own.
	Capability string
}

// Server is a running private Dovecot.
type Server struct {
	Dir       string // everything of the instance; readable by the mail user
	Maildir   string // the user's Maildir: INBOX; .NAME/ for folder NAME
	User      string
	Password  string
	PlainPort int // IMAP, STARTTLS when TLS is on
	TLSPort   int // implicit TLS (0 without TLS)
	CertFile  string
	conf      string
}

// Start starts a Dovecot, or skips the test when none is installed (unless
// MAILBLAST_REQUIRE_REAL_SERVERS is set, when it fails).
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin := dovecotPath()
	if bin == "" {
		if os.Getenv("MAILBLAST_REQUIRE_REAL_SERVERS") != "" {
			t.Fatal("dovecot not installed; run scripts/install-deps.sh")
		}
		t.Skip("dovecot not installed; run scripts/install-deps.sh")
	}
	s := newServer(t, opts)
	if err := s.run(bin); err != nil {
		t.Fatalf("dovecot -c %s: %v\n%s", s.conf, err, s.Log())
	}
	t.Cleanup(func() { s.stop(t, bin) })
	s.waitListening(t)
	return s
}

// run runs dovecot with its output in a file: the master it forks keeps
// the descriptors, and a pipe would make Wait wait for the master's end.
func (s *Server) run(bin string, args ...string) error {
	out, err := os.OpenFile(filepath.Join(s.Dir, "dovecot.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.Command(bin, append([]string{"-c", s.conf}, args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(out.Name())
		return fmt.Errorf("%w: %s", err, b)
	}
	return nil
}

func dovecotPath() string {
	if p, err := exec.LookPath("dovecot"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/dovecot"); err == nil {
		return "/usr/sbin/dovecot"
	}
	return ""
}

// newServer writes the instance's files. The folder is under /tmp, not
// t.TempDir(), whose 0700 parent the mail user could not enter.
func newServer(t testing.TB, opts Options) *Server {
	t.Helper()
	dir, err := os.MkdirTemp("", "mailblast-dovecot-")
	must(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	must(t, os.Chmod(dir, 0o755))
	s := &Server{Dir: dir, Maildir: filepath.Join(dir, "home", "Maildir"), User: "feedback",
		Password: "imap-test-secret-" + strconv.Itoa(os.Getpid()), conf: filepath.Join(dir, "dovecot.conf")}
	s.PlainPort = freePort(t)
	if opts.TLS {
		s.TLSPort = freePort(t)
		s.CertFile = filepath.Join(dir, "cert.pem")
		writeCert(t, s.CertFile, filepath.Join(dir, "key.pem"))
	}
	uid, user := mailUser()
	for _, d := range []string{"new", "cur", "tmp"} {
		must(t, os.MkdirAll(filepath.Join(s.Maildir, d), 0o755))
	}
	must(t, chownTree(filepath.Join(dir, "home"), uid))
	must(t, os.MkdirAll(filepath.Join(dir, "run"), 0o755))
	passwd := fmt.Sprintf("%s:{PLAIN}%s:%d:%d::%s\n", s.User, s.Password, uid, uid, filepath.Join(dir, "home"))
	must(t, os.WriteFile(filepath.Join(dir, "passwd"), []byte(passwd), 0o644))
	must(t, os.WriteFile(s.conf, []byte(s.config(opts, user)), 0o644))
	return s
}

// mailUser is the uid Dovecot runs the mail user as, and its login and
// internal user: nobody when run as root, else the current user.
func mailUser() (int, string) {
	if os.Getuid() == 0 {
		return 65534, "nobody"
	}
	name := os.Getenv("USER")
	if name == "" {
		name = strconv.Itoa(os.Getuid())
	}
	return os.Getuid(), name
}

func chownTree(root string, uid int) error {
	if os.Getuid() != 0 {
		return nil
	}
	return filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, uid)
	})
}

func (s *Server) config(opts Options, user string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `base_dir = %[1]s/run
instance_name = mailblast-test-%[2]d
listen = 127.0.0.1
protocols = imap
log_path = %[1]s/dovecot.log
info_log_path = %[1]s/dovecot.log
auth_verbose = yes
disable_plaintext_auth = no
auth_mechanisms = plain login
passdb {
  driver = passwd-file
  args = %[1]s/passwd
}
userdb {
  driver = passwd-file
  args = %[1]s/passwd
}
mail_location = maildir:~/Maildir
first_valid_uid = 1
default_login_user = %[3]s
default_internal_user = %[3]s
service anvil {
  chroot =
}
`, s.Dir, s.PlainPort, user)
	if opts.Capability != "" {
		fmt.Fprintf(&b, "protocol imap {\n  imap_capability = %s\n}\n", opts.Capability)
	}
	b.WriteString("service imap-login {\n  chroot =\n")
	fmt.Fprintf(&b, "  inet_listener imap {\n    address = 127.0.0.1\n    port = %d\n  }\n", s.PlainPort)
	if !opts.TLS {
		b.WriteString("  inet_listener imaps {\n    port = 0\n  }\n}\nssl = no\n")
		return b.String()
	}
	fmt.Fprintf(&b, "  inet_listener imaps {\n    address = 127.0.0.1\n    port = %d\n    ssl = yes\n  }\n}\n", s.TLSPort)
	fmt.Fprintf(&b, "ssl = yes\nssl_cert = <%s\nssl_key = <%s/key.pem\n", s.CertFile, s.Dir)
	return b.String()
}

func (s *Server) waitListening(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.PlainPort)), time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("dovecot not listening on %d: %v\n%s", s.PlainPort, err, s.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) stop(t testing.TB, bin string) {
	if err := s.run(bin, "stop"); err != nil {
		t.Logf("dovecot stop: %v", err)
	}
	// "stop" returns once master is told; wait for it to exit so that the
	// folder can go.
	pidFile := filepath.Join(s.Dir, "run", "master.pid")
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(pidFile); os.IsNotExist(err) {
			return
		}
	}
}

// Log is Dovecot's log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "dovecot.log"))
	return string(b)
}

// Host is the address the listeners are on.
func (s *Server) Host() string { return "127.0.0.1" }

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
