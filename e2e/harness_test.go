// Package e2e runs the real mailblast binary against real SMTP servers:
// the in-process go-smtp test server (sendertest) for fault injection, and
// Postfix's smtp-sink, which nobody here wrote.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailblast/mailblast/ledger/postgres/pgtest"
	"github.com/mailblast/mailblast/sender/sendertest"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mailblast-e2e")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "mailblast")
	build := exec.Command("go", "build", "-o", binary, "..")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building mailblast:", err)
		os.Exit(2)
	}
	// One PostgreSQL cluster for the shared-ledger tests, each its own
	// database: a cluster per test cost about 2 s each.
	code := pgtest.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// workspace is a directory with a list, a template and the environment
// that points the binary at one relay.
type workspace struct {
	t   testing.TB
	dir string
	env []string
}

const template = `From: Sender <news@example.com>
Subject: Hello {{.first_name}} #{{.n}}
X-Campaign-Row: {{.n}}

Dear {{.first_name}},
this is message {{.n}} for {{.email}}.
`

func newWorkspace(t testing.TB, host string, port, rows int) *workspace {
	t.Helper()
	dir := t.TempDir()
	w := &workspace{t: t, dir: dir}
	w.write("message.tmpl", template)
	var b strings.Builder
	b.WriteString("email,first_name,n\n")
	for i := 1; i <= rows; i++ {
		fmt.Fprintf(&b, "user%d@example.com,Name%d,%d\n", i, i, i)
	}
	w.write("list.csv", b.String())
	w.env = append(os.Environ(),
		"HOME="+dir, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "XDG_STATE_HOME="+filepath.Join(dir, "xstate"),
		"MAILBLAST_SMTP_HOST="+host, "MAILBLAST_SMTP_PORT="+strconv.Itoa(port), "MAILBLAST_SMTP_TLS=none",
		"MAILBLAST_STATE_DIR="+filepath.Join(dir, "state"), "MAILBLAST_TEMPLATE=message.tmpl",
		"MAILBLAST_PROGRESS=plain", "MAILBLAST_SMTP_TIMEOUT=10s",
	)
	return w
}

func forServer(t testing.TB, s *sendertest.Server, rows int) *workspace {
	return newWorkspace(t, s.Host(), s.Port(), rows)
}

func (w *workspace) write(name, content string) {
	w.t.Helper()
	if err := os.WriteFile(filepath.Join(w.dir, name), []byte(content), 0o644); err != nil {
		w.t.Fatal(err)
	}
}

func (w *workspace) command(args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	c := exec.Command(binary, args...)
	c.Dir, c.Env = w.dir, w.env
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	return c, &out, &errb
}

// run runs the binary to the end and returns stdout, stderr and the exit code.
func (w *workspace) run(args ...string) (string, string, int) {
	w.t.Helper()
	c, out, errb := w.command(args...)
	err := c.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		w.t.Fatalf("run %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

func (w *workspace) mustRun(want int, args ...string) string {
	w.t.Helper()
	out, errs, code := w.run(args...)
	if code != want {
		w.t.Fatalf("mailblast %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, out, errs)
	}
	return out
}

type status struct {
	Total, Pending, Inflight, Sent, Deferred, Failed, Skipped int
	Recovered                                                 int  `json:"recovered_in_flight"`
	Finished                                                  bool `json:"finished"`
}

func (w *workspace) status() status {
	w.t.Helper()
	out := w.mustRun(0, "status", "--json")
	var s status
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		w.t.Fatalf("status --json: %v\n%s", err, out)
	}
	return s
}

type reportRow struct {
	Row       int    `json:"row"`
	Email     string `json:"email"`
	State     string `json:"state"`
	Attempts  int    `json:"attempts"`
	Code      int    `json:"code"`
	Enhanced  string `json:"enhanced_code"`
	MessageID string `json:"message_id"`
	Recovered int    `json:"recovered"`
}

func (w *workspace) report() map[string]reportRow {
	w.t.Helper()
	out := w.mustRun(0, "report", "--format", "json")
	rows := map[string]reportRow{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var r reportRow
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			w.t.Fatalf("report line %q: %v", line, err)
		}
		rows[r.Email] = r
	}
	return rows
}

// signalWhen starts the binary and sends sig once cond holds.
func (w *workspace) signalWhen(sig syscall.Signal, cond func() bool, args ...string) int {
	w.t.Helper()
	c, out, errb := w.command(args...)
	if err := c.Start(); err != nil {
		w.t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for !cond() && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	c.Process.Signal(sig)
	err := c.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -int(ws.Signal())
		}
		return ee.ExitCode()
	}
	if err != nil {
		w.t.Fatalf("%v\n%s\n%s", err, out, errb)
	}
	return 0
}
