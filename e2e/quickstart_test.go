package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestDemoNeverMailsAStranger runs the README's quick start as written,
// with something else already listening on the port the demo used to take
// for granted (1025). The demo must deliver to its own capture relay and
// the squatter must never see a connection.
func TestDemoNeverMailsAStranger(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo")
	}
	var squatted atomic.Int64
	if ln, err := net.Listen("tcp", "127.0.0.1:1025"); err == nil {
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				squatted.Add(1)
				c.Write([]byte("220 stranger ESMTP\r\n"))
				c.Close()
			}
		}()
	} else {
		t.Logf("port 1025 already busy (%v): the demo must still avoid it", err)
	}
	demo := exec.Command("bash", filepath.Join("..", "examples", "demo.sh"))
	demo.Env = append(os.Environ(), "MAILBLAST_SMTP_PORT=", "MAILBLAST_STATE_DIR=")
	out, err := demo.CombinedOutput()
	if err != nil {
		t.Fatalf("demo.sh: %v\n%s", err, out)
	}
	if n := squatted.Load(); n != 0 {
		t.Fatalf("the demo connected %d times to the stranger on 1025", n)
	}
	eml, _ := filepath.Glob(filepath.Join("..", "examples", "captured", "*.eml"))
	if len(eml) == 0 || !strings.Contains(string(out), "--- first captured message:") {
		t.Fatalf("nothing captured (%d files)\n%s", len(eml), out)
	}
}
