package e2e

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailblast/mailblast/ledger/postgres/pgtest"
	"github.com/mailblast/mailblast/sender/sendertest"
)

// pgLease is the lease the PostgreSQL tests run with: a killed worker's
// rows are taken over this long after its last renewal.
const pgLease = "2s"

// onPostgres points w at the shared ledger at url: every machine of a
// fleet has its own workspace (directory, state directory, list copy) and
// the same URL.
func onPostgres(w *workspace, url string) *workspace {
	w.env = append(w.env, "MAILBLAST_LEDGER_URL="+url, "MAILBLAST_LEDGER_LEASE="+pgLease)
	return w
}

// pgFleet is n workspaces on one new database and one relay: n machines.
func pgFleet(t *testing.T, srv *sendertest.Server, n, rows int) []*workspace {
	t.Helper()
	url := pgtest.Start(t)
	ws := make([]*workspace, n)
	for i := range ws {
		ws[i] = onPostgres(forServer(t, srv, rows), url)
	}
	return ws
}

// worker is one mailblast process started in the background.
type worker struct {
	cmd      *exec.Cmd
	out, err *bytes.Buffer
	done     chan struct{}
	code     int
}

func (w *workspace) start(args ...string) *worker {
	w.t.Helper()
	c, out, errb := w.command(args...)
	if err := c.Start(); err != nil {
		w.t.Fatal(err)
	}
	p := &worker{cmd: c, out: out, err: errb, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		_ = c.Wait()
		p.code = c.ProcessState.ExitCode()
		if ws, ok := c.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			p.code = -int(ws.Signal())
		}
	}()
	return p
}

// wait waits for the process (generously: a busy 2-core machine) and
// returns its exit code (minus the signal that killed it).
func (p *worker) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(120 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("worker did not end within 120 s; stderr:\n%s", p.err)
	}
	return 0
}

// statusWorkers is status --json with its workers.
type statusWorkers struct {
	status
	Workers []struct {
		Host    string  `json:"host"`
		PID     int     `json:"pid"`
		Claimed int     `json:"claimed_rows"`
		Rate    float64 `json:"rate"`
		Live    bool    `json:"live"`
	} `json:"workers"`
}

func (w *workspace) fleetStatus() statusWorkers {
	w.t.Helper()
	out := w.mustRun(0, "status", "--json")
	var s statusWorkers
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &s); err != nil {
		w.t.Fatalf("status --json: %v\n%s", err, out)
	}
	return s
}
