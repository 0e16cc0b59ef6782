package e2e

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailblast/mailblast/sender/sendertest"
)

// TestFIFOInputsRefused: a list or template that is a FIFO used to block
// open() forever. Each is now refused at once with exit 66, naming it.
func TestFIFOInputsRefused(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 3)
	for _, name := range []string{"fifo.csv", "fifo.tmpl"} {
		if err := syscall.Mkfifo(filepath.Join(w.dir, name), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"validate", "fifo.csv"}, {"send", "fifo.csv"},
		{"send", "list.csv", "--template", "fifo.tmpl"}, {"preview", "list.csv", "--template", "fifo.tmpl"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		c := exec.CommandContext(ctx, binary, args...)
		c.Dir, c.Env = w.dir, w.env
		out, err := c.CombinedOutput()
		hung := ctx.Err() != nil
		cancel()
		var ee *exec.ExitError
		if hung || !errors.As(err, &ee) || ee.ExitCode() != 66 || !strings.Contains(string(out), "a FIFO") {
			t.Errorf("mailblast %v: %v (hung: %v)\n%s", args, err, hung, out)
		}
	}
	if srv.Count() != 0 {
		t.Fatalf("relay got %d messages", srv.Count())
	}
}
