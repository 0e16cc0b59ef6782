package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailblast/mailblast/ledger/postgres/pgtest"
	"github.com/mailblast/mailblast/sender/sendertest"
)

// readmeCommands are the lines of README.md's code blocks that start with
// "mailblast ", in order. Those of a block that exports
// MAILBLAST_LEDGER_URL (the shared ledger's examples) are apart, in shared:
// they run against a real PostgreSQL.
func readmeCommands(t *testing.T) (cmds, shared []string) {
	f, err := os.Open(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var block []string
	inBlock, pg := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```") && inBlock:
			if pg {
				shared = append(shared, block...)
			} else {
				cmds = append(cmds, block...)
			}
			inBlock, block = false, nil
		case strings.HasPrefix(line, "```"):
			inBlock, pg = true, false
		case inBlock && strings.HasPrefix(line, "export MAILBLAST_LEDGER_URL="):
			pg = true
		case inBlock && strings.HasPrefix(line, "mailblast "):
			block = append(block, line)
		}
	}
	return cmds, shared
}

// TestReadmeExamplesRun runs every "mailblast ..." line of the README's
// code blocks, as written (comments included, through sh), in a directory
// with a list.csv and a message.tmpl and a relay to send to. Each must
// exit 0: an example that crashes or is refused is a broken promise.
func TestReadmeExamplesRun(t *testing.T) {
	cmds, _ := readmeCommands(t)
	if len(cmds) < 8 {
		t.Fatalf("found only %d examples in README.md", len(cmds))
	}
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 10)
	readmeFeedbackFiles(t, w.dir)
	runReadme(t, w, cmds)
}

// TestReadmeSharedLedgerExamplesRun runs the shared ledger's examples with
// MAILBLAST_LEDGER_URL naming a real PostgreSQL database.
func TestReadmeSharedLedgerExamplesRun(t *testing.T) {
	_, shared := readmeCommands(t)
	if len(shared) == 0 {
		t.Fatal("README.md has no example of the shared ledger")
	}
	url := pgtest.Start(t)
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 10)
	w.env = append(w.env, "MAILBLAST_LEDGER_URL="+url)
	runReadme(t, w, shared)
	if srv.Count() != 10 {
		t.Errorf("the shared ledger's example sent %d of 10", srv.Count())
	}
}

// runReadme runs README lines as written, through sh, in w.
func runReadme(t *testing.T, w *workspace, cmds []string) {
	t.Helper()
	w.env = append(w.env, "PATH="+filepath.Dir(binary)+":/usr/bin:/bin")
	for _, line := range cmds {
		c := exec.Command("sh", "-c", line)
		c.Dir, c.Env = w.dir, w.env
		out, err := c.CombinedOutput()
		if err != nil {
			t.Errorf("README example %q: %v\n%s", line, err, out)
		}
	}
}

// readmeFeedbackFiles puts the mailboxes the README's `feedback import`
// examples name into dir (which is $HOME there), made of the parser's
// real samples: a Maildir, an mbox, message files and SES payloads. They
// match no recipient of the workspace, so they change nothing; what the
// examples prove is that each command line reads its files and exits 0.
func readmeFeedbackFiles(t *testing.T, dir string) {
	sample := func(name string) string {
		b, err := os.ReadFile(filepath.Join("..", "feedback", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	files := map[string]string{
		"Maildir/.bounces/new/1.postfix": sample("postfix-hard.eml"),
		"Maildir/.bounces/cur/2.arf:2,S": sample("arf-rfc5965.eml"),
		"bounces.mbox": "From MAILER-DAEMON Thu Jul  7 17:16:05 1994\n" + sample("dsn-rfc3464-simple.eml") +
			"\nFrom someone Mon Dec  1 09:00:00 2026\n" + sample("auto-reply-rfc3834.eml"),
		"report.eml":                sample("postfix-hard.eml"),
		"report-1.eml":              sample("dsn-rfc3464-multi.eml"),
		"report-2.eml":              sample("arf-rfc6650-redacted.eml"),
		"ses-events/bounce.json":    sample("providers/ses-bounce-sns.json"),
		"ses-events/complaint.json": sample("providers/ses-complaint.json"),
	}
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
