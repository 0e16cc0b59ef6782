package cmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInitNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	mine := filepath.Join(dir, "list.csv")
	if err := os.WriteFile(mine, []byte("email\nme@example.org\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runInit(&out, dir); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(mine); string(b) != "email\nme@example.org\n" {
		t.Fatalf("init replaced an existing list.csv:\n%s", b)
	}
	if !strings.Contains(out.String(), "kept   "+mine) {
		t.Errorf("init did not say it kept %s:\n%s", mine, out.String())
	}
	for _, name := range []string{"mailblast.yaml", "message.tmpl", "crontab.example"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s not written: %v", name, err)
		}
	}
	cron, _ := os.ReadFile(filepath.Join(dir, "crontab.example"))
	if !strings.Contains(string(cron), "cd "+dir+" && "+binaryPath()+" resume") {
		t.Errorf("crontab.example does not cd to the directory:\n%s", cron)
	}
}

func TestUnknownCommandIsUsage(t *testing.T) {
	root := newRootCommand()
	root.SetArgs([]string{"sned", "list.csv"})
	root.SetOut(&bytes.Buffer{})
	err := root.Execute()
	if got := exitCode(err); got != exitUsage {
		t.Fatalf("exit %d (%v), want %d", got, err, exitUsage)
	}
	if !strings.Contains(err.Error(), "did you mean send") {
		t.Errorf("no suggestion in %q", err)
	}
}
