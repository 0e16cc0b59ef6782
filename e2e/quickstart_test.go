package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mailblast/mailblast/sender/sendertest"
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

// TestInitStartsACampaign: what `mailblast init` writes validates, previews
// and sends as it is (to a test relay standing in for smtp.example.com).
func TestInitStartsACampaign(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	dir := t.TempDir()
	run := func(want int, args ...string) string {
		t.Helper()
		c := exec.Command(binary, args...)
		c.Dir = dir
		c.Env = []string{"HOME=" + dir, "PATH=/usr/bin:/bin", "MAILBLAST_STATE_DIR=" + filepath.Join(dir, "state"),
			"MAILBLAST_SMTP_HOST=" + srv.Host(), "MAILBLAST_SMTP_PORT=" + strconv.Itoa(srv.Port()),
			"MAILBLAST_SMTP_TLS=none", "MAILBLAST_PROGRESS=quiet"}
		out, err := c.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != want {
			t.Fatalf("mailblast %v: exit %d, want %d\n%s", args, code, want, out)
		}
		return string(out)
	}
	run(0, "init")
	// A relay on loopback without AUTH: drop the example username, as a
	// user trying init against a local relay would.
	yaml, _ := os.ReadFile(filepath.Join(dir, "mailblast.yaml"))
	yaml = []byte(strings.Replace(string(yaml), "  username: campaigns@example.com\n", "", 1))
	if err := os.WriteFile(filepath.Join(dir, "mailblast.yaml"), yaml, 0o644); err != nil {
		t.Fatal(err)
	}
	run(0, "validate", "list.csv")
	if out := run(0, "preview", "list.csv", "--row", "2"); !strings.Contains(out, "Subject: Hello Ada") {
		t.Fatalf("preview of the init files:\n%s", out)
	}
	run(0, "send", "list.csv")
	if got := len(srv.ByRecipient()); got != 2 {
		t.Fatalf("relay got %d recipients, want the 2 of init's list.csv", got)
	}
}
