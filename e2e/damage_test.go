package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailblast/mailblast/sender/sendertest"
)

// runBounded runs the binary and fails the test if it has not ended
// within bound: the defects here are hangs, which must fail, not stall
// the suite.
func (w *workspace) runBounded(bound time.Duration, args ...string) (string, string, int) {
	w.t.Helper()
	c, out, errb := w.command(args...)
	if err := c.Start(); err != nil {
		w.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case <-done:
	case <-time.After(bound):
		c.Process.Kill()
		<-done
		w.t.Fatalf("mailblast %s still running after %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), bound, out, errb)
	}
	return out.String(), errb.String(), c.ProcessState.ExitCode()
}

// attachmentWorkspace names, in the attachment column, a regular file
// for the first row and a FIFO nobody writes to for the rows after it.
func attachmentWorkspace(t *testing.T, srv *sendertest.Server, fifoRows int, withGood bool) *workspace {
	w := forServer(t, srv, 0)
	files := filepath.Join(w.dir, "files")
	os.Mkdir(files, 0o755)
	w.write("files/terms.txt", "terms\n")
	if err := syscall.Mkfifo(filepath.Join(files, "pipe"), 0o644); err != nil {
		t.Skipf("no FIFO here: %v", err)
	}
	var b strings.Builder
	b.WriteString("email,first_name,n,file\n")
	if withGood {
		b.WriteString("good@example.com,Good,0,terms.txt\n")
	}
	for i := 1; i <= fifoRows; i++ {
		fmt.Fprintf(&b, "fifo%d@example.com,Fifo,%d,pipe\n", i, i)
	}
	w.write("list.csv", b.String())
	w.env = append(w.env, "MAILBLAST_ATTACHMENT_COLUMN=file", "MAILBLAST_ATTACHMENT_DIR=files")
	return w
}

// TestFIFOAttachmentRefused: a FIFO in the attachment column is that row's
// bad data, refused at once with the row named; before, open() blocked for
// ever.
func TestFIFOAttachmentRefused(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := attachmentWorkspace(t, srv, 1, false)
	out, errs, code := w.runBounded(20*time.Second, "validate", "list.csv")
	if code != 65 {
		t.Fatalf("validate: exit %d, want 65\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(out, "row 2") || !strings.Contains(out, "not a regular file") {
		t.Errorf("validate does not name row 2 and the reason:\n%s", out)
	}

	w = attachmentWorkspace(t, srv, 1, true)
	out, errs, code = w.runBounded(20*time.Second, "send", "list.csv")
	if code != 0 {
		t.Fatalf("send: exit %d, want 0 (the FIFO row skipped)\n%s\n%s", code, out, errs)
	}
	rows := w.reportOf()
	if r := rows[3]; r.State != "skipped" || !strings.Contains(r.Reply, "not a regular file") {
		t.Errorf("FIFO row: %+v, want skipped as not a regular file", r)
	}
	if got := srv.ByRecipient(); len(got) != 1 || len(got["good@example.com"]) != 1 {
		t.Errorf("relay got %v, want the good row only", keys(got))
	}
}

// TestSecondSignalEndsAnyState: a run stuck where no context reaches (here
// open() of a list that is a FIFO nobody writes to) still ends after the
// second signal, within a bound, with 130.
func TestSecondSignalEndsAnyState(t *testing.T) {
	w := newWorkspace(t, "127.0.0.1", 1, 0)
	if err := syscall.Mkfifo(filepath.Join(w.dir, "stuck.csv"), 0o644); err != nil {
		t.Skipf("no FIFO here: %v", err)
	}
	c, out, errb := w.command("validate", "stuck.csv")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	time.Sleep(500 * time.Millisecond)
	c.Process.Signal(syscall.SIGINT)
	time.Sleep(300 * time.Millisecond)
	c.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		c.Process.Kill()
		<-done
		t.Fatalf("still running 20 s after the second SIGINT\n%s\n%s", out, errb)
	}
	if code := c.ProcessState.ExitCode(); code != 130 && code != 65 && code != 66 {
		t.Errorf("exit %d, want 130 (or a refusal of the FIFO list)\n%s", code, errb)
	}
}

// deferringRelay defers every even-numbered user, so a campaign has work
// left for resume.
func deferringRelay(t *testing.T) *sendertest.Server {
	return sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{
		Rcpt: func(addr string, _ int) *smtp.SMTPError {
			var n int
			fmt.Sscanf(addr, "user%d@", &n)
			if n%2 == 0 {
				return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "later"}
			}
			return nil
		},
	}})
}

func (w *workspace) ledgerPath() string { return filepath.Join(w.dir, "state", "ledger.db") }

// garble writes 4 KiB of garbage over a page in the middle of the ledger.
func (w *workspace) garble() {
	w.t.Helper()
	f, err := os.OpenFile(w.ledgerPath(), os.O_RDWR, 0)
	if err != nil {
		w.t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	junk := make([]byte, 4096)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range junk {
		junk[i] = byte(r.Uint32())
	}
	if _, err := f.WriteAt(junk, fi.Size()/2/4096*4096); err != nil {
		w.t.Fatal(err)
	}
}

// wantDamaged asserts exit 74 with a message that says how to recover.
func wantDamaged(t *testing.T, w *workspace, args ...string) {
	t.Helper()
	out, errs, code := w.runBounded(60*time.Second, args...)
	if code != 74 {
		t.Errorf("%s: exit %d, want 74\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errs)
		return
	}
	for _, hint := range []string{"ledger.db-wal", "suppress import"} {
		if !strings.Contains(errs, hint) {
			t.Errorf("%s: the message does not say how to recover (%q):\n%s", strings.Join(args, " "), hint, errs)
		}
	}
}

// TestGarbageInLedgerExits74: a damaged ledger stops every command with 74
// and sends nothing; before, send said "0 recipients" with 0, status showed
// wrong totals and resume mailed people before failing.
func TestGarbageInLedgerExits74(t *testing.T) {
	srv := deferringRelay(t)
	w := forServer(t, srv, 3000)
	w.mustRun(75, "send", "list.csv", "--retry-wait", "0s")
	w.mustRun(0, "ledger", "check")
	before := srv.Count()
	w.garble()
	wantDamaged(t, w, "status")
	wantDamaged(t, w, "resume")
	wantDamaged(t, w, "send", "list.csv")
	wantDamaged(t, w, "ledger", "check")
	if n := srv.Count() - before; n > 0 {
		t.Errorf("%d messages sent from a damaged ledger", n)
	}
}

// TestEmptyOrForeignLedgerExits74: an empty or foreign file where the
// ledger should be is not a new ledger; before, send mailed everyone again.
func TestEmptyOrForeignLedgerExits74(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 30)
	w.mustRun(0, "send", "list.csv")
	if err := os.Truncate(w.ledgerPath(), 0); err != nil {
		t.Fatal(err)
	}
	wantDamaged(t, w, "send", "list.csv")
	wantDamaged(t, w, "status")
	if err := os.WriteFile(w.ledgerPath(), []byte("not a ledger at all\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantDamaged(t, w, "send", "list.csv")
	if n := srv.Count(); n != 30 {
		t.Errorf("relay got %d messages, want the first run's 30", n)
	}
}

func exist(paths []string) bool {
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return false
		}
	}
	return true
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// TestFilesNotReadableByOthers: the state directory is 0700 and every file
// holding addresses 0600, the WAL included; an existing state directory
// others can read draws a warning. Before, the ledger and the .eml files
// were 0644.
func TestFilesNotReadableByOthers(t *testing.T) {
	release := make(chan struct{})
	srv := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{
		Data: func([]string, []byte) *smtp.SMTPError { <-release; return nil },
	}})
	w := forServer(t, srv, 5)
	c, _, errb := w.command("send", "list.csv", "--connections", "1")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	state := filepath.Dir(w.ledgerPath())
	wal := w.ledgerPath() + "-wal"
	files := []string{w.ledgerPath(), wal, w.ledgerPath() + "-shm", filepath.Join(state, "campaign-list.lock")}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if srv.Connections() > 0 && exist(files) {
			break
		}
	}
	for _, f := range files {
		if m := mode(t, f); m != 0o600 {
			t.Errorf("%s: mode %o, want 600", filepath.Base(f), m)
		}
	}
	close(release)
	if err := c.Wait(); err != nil {
		t.Fatalf("send: %v\n%s", err, errb)
	}
	if m := mode(t, state); m != 0o700 {
		t.Errorf("state dir: mode %o, want 700", m)
	}
	if strings.Contains(errb.String(), "readable") {
		t.Errorf("warning about a state directory mailblast made itself:\n%s", errb)
	}

	w.mustRun(0, "send", "list.csv", "--dry-run", "out")
	if m := mode(t, filepath.Join(w.dir, "out")); m != 0o700 {
		t.Errorf("dry-run dir: mode %o, want 700", m)
	}
	emls, _ := filepath.Glob(filepath.Join(w.dir, "out", "*.eml"))
	for _, f := range emls {
		if m := mode(t, f); m != 0o600 {
			t.Errorf("%s: mode %o, want 600", filepath.Base(f), m)
		}
	}

	os.Chmod(state, 0o755)
	_, errs, _ := w.run("status")
	if !strings.Contains(errs, "readable by other users") {
		t.Errorf("no warning for a state dir of mode 755:\n%s", errs)
	}
}

// TestLedgerCheck: "ledger check" runs SQLite's integrity_check: 0 on a
// good ledger, 74 on a damaged one (TestGarbageInLedgerExits74), and an
// error, not a new ledger, when there is none.
func TestLedgerCheck(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 10)
	_, errs, code := w.run("ledger", "check")
	if code != 66 {
		t.Errorf("ledger check without a ledger: exit %d, want 66\n%s", code, errs)
	}
	if _, err := os.Stat(w.ledgerPath()); err == nil {
		t.Errorf("ledger check created a ledger")
	}
	w.mustRun(0, "send", "list.csv")
	out := w.mustRun(0, "ledger", "check")
	if !strings.Contains(out, "ok") {
		t.Errorf("ledger check says %q", out)
	}
}

// TestFullDiskExits74: a disk that fills up under the ledger is an I/O
// error (74), not an internal one (70), and the ledger stays consistent.
// It needs a tiny tmpfs, so root.
func TestFullDiskExits74(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 3000)
	state := filepath.Join(w.dir, "state")
	os.Mkdir(state, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", state).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", state).Run() })
	_, errs, code := w.runBounded(120*time.Second, "send", "list.csv")
	if code != 74 {
		t.Fatalf("send on a full disk: exit %d, want 74\n%s", code, errs)
	}
	w.mustRun(0, "ledger", "check")
}
