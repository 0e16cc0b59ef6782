// Package pgtest runs a private, real PostgreSQL for tests: a cluster
// made by initdb in a temporary directory under /tmp, listening on
// 127.0.0.1 and a free port, with a fresh database per test.
//
//  1. TestMain calls Main, so every test of the binary shares one cluster,
//     stopped when the tests end. Without Main, each Start starts (and its
//     test's cleanup stops) a cluster of its own: slower, still correct.
//  2. Start gives a test the URL of a new, empty database (dropped at the
//     test's end); StartWithPassword one whose role must log in with a
//     password over TCP, for tests of how the password is given.
//  3. The server runs as user postgres when the tests run as root
//     (PostgreSQL refuses root), as the current user otherwise. It is
//     started as a child that the kernel stops if the test binary dies
//     (a panic, a timeout, kill -9), so no cluster outlives its tests.
//
// Without PostgreSQL's binaries (Debian's postgresql package, found in
// /usr/lib/postgresql/*/bin), tests skip; with
// MAILBLAST_REQUIRE_REAL_SERVERS=1 they fail and say what is missing.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrMissing is returned by Available when no PostgreSQL binaries are
// installed.
var ErrMissing = errors.New("PostgreSQL not found in /usr/lib/postgresql/*/bin (Debian: apt-get install postgresql, or bash scripts/install-deps.sh)")

// Server is one private cluster.
type Server struct {
	dir     string // owns the data directory and the socket
	bin     string
	port    int
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the server process has ended
	waitErr error         // how it ended, once exited is closed
	n       atomic.Int64

	pwOnce sync.Once
	pwErr  error
}

var shared struct {
	mu   sync.Mutex
	main bool
	srv  *Server
	err  error
}

// Main runs the tests of m against one shared cluster and stops it at the
// end: func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }.
func Main(m *testing.M) int {
	shared.mu.Lock()
	shared.main = true
	shared.mu.Unlock()
	code := m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv != nil {
		shared.srv.Stop()
	}
	return code
}

// Available finds the newest installed PostgreSQL's bin directory.
func Available() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d, nil
		}
	}
	return "", ErrMissing
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Start gives the test a new, empty database and returns its URL (user
// postgres, no password, sslmode=disable).
func Start(t testing.TB) string {
	t.Helper()
	return Shared(t).NewDatabase(t)
}

// StartWithPassword gives the test a new database owned by a new role that
// must log in with password over TCP; the URL names the role without the
// password.
func StartWithPassword(t testing.TB) (dbURL, password string) {
	t.Helper()
	return Shared(t).NewPasswordDatabase(t)
}

// Shared is the cluster the test uses: the shared one under Main, else a
// new one stopped at the test's end. It skips or fails the test when
// PostgreSQL cannot run here.
func Shared(t testing.TB) *Server {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.main {
		s, err := StartServer()
		if err != nil {
			unavailable(t, err)
		}
		t.Cleanup(s.Stop)
		return s
	}
	if shared.srv == nil && shared.err == nil {
		shared.srv, shared.err = StartServer()
	}
	if shared.err != nil {
		unavailable(t, shared.err)
	}
	return shared.srv
}

func unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("MAILBLAST_REQUIRE_REAL_SERVERS") == "1" || !errors.Is(err, ErrMissing) {
		t.Fatalf("pgtest: %v", err)
	}
	t.Skipf("pgtest: %v", err)
}

// StartServer initialises and starts a cluster; Stop ends it and removes
// its directory.
func StartServer() (*Server, error) {
	bin, err := Available()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("/tmp", "mailblast-pg-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	s := &Server{dir: dir, bin: bin}
	if err := s.initdb(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	for try := 0; ; try++ {
		err = s.start()
		if err == nil || try == 2 {
			break
		}
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// credential runs a command as postgres when we are root.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root needs the user postgres (the postgresql package makes it): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func (s *Server) command(name string, args ...string) (*exec.Cmd, error) {
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = sysProcAttr(cred)
	return cmd, nil
}

// hba lets postgres in without a password, and members of pwusers only
// with theirs (StartWithPassword).
const hba = `local all all trust
host all +pwusers 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 trust
`

func (s *Server) initdb() error {
	if cred, _ := credential(); cred != nil {
		if err := os.Chown(s.dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
	}
	cmd, err := s.command("initdb", "-D", s.data(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
	if err != nil {
		return err
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgtest: initdb: %w: %s", err, out)
	}
	// The data directory belongs to postgres; writing as root keeps that.
	return os.WriteFile(filepath.Join(s.data(), "pg_hba.conf"), []byte(hba), 0o600)
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

// start runs postgres on a free port and waits until it takes connections.
func (s *Server) start() error {
	port, err := freePort()
	if err != nil {
		return err
	}
	s.port = port
	log, err := os.Create(filepath.Join(s.dir, "postgres.log"))
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer log.Close()
	cmd, err := s.command("postgres", "-D", s.data(), "-c", "listen_addresses=127.0.0.1", "-p", strconv.Itoa(port),
		"-k", s.dir, "-c", "max_connections=200")
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func() { s.waitErr = cmd.Wait(); close(s.exited) }()
	if err := s.ready(30 * time.Second); err != nil {
		s.Stop()
		out, _ := os.ReadFile(log.Name())
		return fmt.Errorf("pgtest: postgres did not start: %w\n%s", err, out)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ready waits until the server answers, or it exits, or d passes.
func (s *Server) ready(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := pgx.Connect(ctx, s.URL("postgres"))
		cancel()
		if err == nil {
			return c.Close(context.Background())
		}
		select {
		case <-s.exited:
			return fmt.Errorf("postgres exited: %v", s.waitErr)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return err
		}
	}
}

// Stop shuts the server down (fast mode: sessions are ended) and removes
// its directory.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.exited:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
		s.cmd = nil
	}
	_ = os.RemoveAll(s.dir)
}

// URL is database db's URL for user postgres.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// Port is the TCP port the server listens on (127.0.0.1).
func (s *Server) Port() int { return s.port }

// NewDatabase creates an empty database, dropped at the test's end, and
// returns its URL.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d_%s", s.n.Add(1), random(4))
	if err := s.exec(`CREATE DATABASE ` + name); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { _ = s.exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`) })
	return s.URL(name)
}

// NewPasswordDatabase creates a role with a random password, member of
// pwusers (which pg_hba makes log in with a password), and a database it
// owns; the URL names the role but not the password.
func (s *Server) NewPasswordDatabase(t testing.TB) (string, string) {
	t.Helper()
	s.pwOnce.Do(func() { s.pwErr = s.exec(`CREATE ROLE pwusers NOLOGIN`) })
	if s.pwErr != nil {
		t.Fatalf("pgtest: %v", s.pwErr)
	}
	n := s.n.Add(1)
	role, db, pw := fmt.Sprintf("pw%d_%s", n, random(4)), fmt.Sprintf("t%d_%s", n, random(4)), random(16)
	for _, q := range []string{
		`CREATE ROLE ` + role + ` LOGIN IN ROLE pwusers PASSWORD '` + pw + `'`,
		`CREATE DATABASE ` + db + ` OWNER ` + role,
	} {
		if err := s.exec(q); err != nil {
			t.Fatalf("pgtest: %v", strings.ReplaceAll(err.Error(), pw, "xxxxx"))
		}
	}
	t.Cleanup(func() { _ = s.exec(`DROP DATABASE IF EXISTS ` + db + ` WITH (FORCE)`) })
	u := url.URL{Scheme: "postgres", User: url.User(role), Host: fmt.Sprintf("127.0.0.1:%d", s.port), Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String(), pw
}

func (s *Server) exec(q string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return err
	}
	defer func() { _ = c.Close(context.Background()) }()
	_, err = c.Exec(ctx, q)
	return err
}

func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
