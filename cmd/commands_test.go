package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/mailblast/mailblast/sender/sendertest"
)

// cli runs mailblast's commands in this process, in a directory of its
// own with its own state directory, writing to buffers instead of the
// terminal.
type cli struct {
	t     *testing.T
	dir   string
	state string
}

func newCLI(t *testing.T) *cli {
	dir := t.TempDir()
	t.Chdir(dir) // no stray mailblast.yaml is read
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "xdg"))
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "MAILBLAST_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	return &cli{t: t, dir: dir, state: filepath.Join(dir, "state")}
}

// run returns the command's standard output, its messages and exit code.
func (c *cli) run(args ...string) (string, string, int) {
	c.t.Helper()
	root := newRootCommand()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(append(args, "--state-dir", c.state))
	err := ledgerError(root.ExecuteContext(context.Background()))
	if err != nil {
		errb.WriteString("mailblast: " + err.Error() + "\n")
	}
	return out.String(), errb.String(), exitCode(err)
}

func (c *cli) write(name, body string) string {
	c.t.Helper()
	p := filepath.Join(c.dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		c.t.Fatal(err)
	}
	return p
}

func TestSuppressCommands(t *testing.T) {
	c := newCLI(t)
	out, _, code := c.run("suppress", "add", "Ann@Example.com", "bob@example.org", "--reason", "asked by phone")
	if code != 0 || out != "2 added, 0 already suppressed\n" {
		t.Fatalf("add: exit %d, %q", code, out)
	}
	if out, _, _ = c.run("suppress", "add", "ann@example.com"); out != "0 added, 1 already suppressed\n" {
		t.Errorf("add again: %q", out)
	}
	c.write("unsub.csv", "email\ncarl@example.net\nnot an address\n")
	out, msgs, code := c.run("suppress", "import", "unsub.csv")
	if code != 0 || !strings.Contains(out, "1 added, 0 already suppressed, 1 skipped") || !strings.Contains(msgs, "row 3 skipped") {
		t.Errorf("import: exit %d, out %q, messages %q", code, out, msgs)
	}
	out, _, _ = c.run("suppress", "list", "--json")
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var s struct{ Address, Reason string }
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatalf("list --json line %q: %v", line, err)
		}
		got = append(got, s.Address+"/"+s.Reason)
	}
	if want := "ann@example.com/asked by phone bob@example.org/asked by phone carl@example.net/imported from unsub.csv"; strings.Join(got, " ") != want {
		t.Errorf("list: %v, want %s", got, want)
	}
	out, msgs, _ = c.run("suppress", "remove", "bob@example.org", "nobody@example.org")
	if out != "1 removed\n" || !strings.Contains(msgs, "nobody@example.org was not suppressed") {
		t.Errorf("remove: out %q, messages %q", out, msgs)
	}
	if _, _, code := c.run("suppress", "add"); code != exitUsage {
		t.Errorf("add without an address: exit %d, want %d", code, exitUsage)
	}
}

const testTemplate = "From: News <news@example.com>\nTo: {{.email}}\nSubject: Hello {{.name}}\n\nHi {{.name}}.\n"

func TestValidateCommand(t *testing.T) {
	c := newCLI(t)
	c.write("message.tmpl", testTemplate)
	c.write("list.csv", "email,name\nann@example.com,Ann\nnot-an-address,Bob\nann@example.com,Ann again\n")
	out, _, code := c.run("validate", "list.csv", "--template", "message.tmpl")
	if code != 0 {
		t.Fatalf("validate: exit %d\n%s", code, out)
	}
	for _, want := range []string{"3 rows: 1 to send, 2 skipped", "invalid address", "duplicate of row 2", "renders for every row"} {
		if !strings.Contains(out, want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}
	c.write("broken.tmpl", "From: news@example.com\nTo: {{.email}}\nSubject: {{.nope}}\n\nx\n")
	if _, msgs, code := c.run("validate", "list.csv", "--template", "broken.tmpl"); code != exitDataErr || !strings.Contains(msgs+out, "nope") {
		t.Errorf("a template naming a missing column: exit %d, want %d; %s", code, exitDataErr, msgs)
	}
	c.write("mailblast.yaml", "smtp:\n  username: bob\n")
	if _, msgs, _ := c.run("validate", "list.csv", "--template", "message.tmpl"); !strings.Contains(msgs, "send would stop here (exit 78)") {
		t.Errorf("a username without a password is not warned of: %q", msgs)
	}
}

// TestResumeCommand: from cron, resume sends what has fallen due and
// exits 75 while a recipient is still deferred; with nothing left it says
// so and exits 0.
func TestResumeCommand(t *testing.T) {
	c := newCLI(t)
	if _, msgs, code := c.run("resume"); code != 0 || !strings.Contains(msgs, "nothing to resume") {
		t.Fatalf("empty state dir: exit %d, %q", code, msgs)
	}
	srv := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{
		Rcpt: func(addr string, attempt int) *smtp.SMTPError {
			if strings.HasPrefix(addr, "bob@") && attempt <= 2 {
				return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
			}
			return nil
		},
	}})
	useRelay(t, srv)
	t.Setenv("MAILBLAST_RETRY_SCHEDULE", "1ms")
	c.write("message.tmpl", testTemplate)
	c.write("list.csv", "email,name\nann@example.com,Ann\nbob@example.com,Bob\n")
	if _, msgs, code := c.run("send", "list.csv", "--template", "message.tmpl", "--retry-wait", "0"); code != exitTempFail {
		t.Fatalf("send: exit %d, want %d (bob deferred)\n%s", code, exitTempFail, msgs)
	}
	time.Sleep(5 * time.Millisecond) // bob's retry falls due
	_, msgs, code := c.run("resume")
	if code != exitTempFail || !strings.Contains(msgs, "1 recipients of campaign list are not final yet") {
		t.Fatalf("first resume: exit %d, want %d (bob deferred again) and word of it\n%s", code, exitTempFail, msgs)
	}
	time.Sleep(5 * time.Millisecond)
	if _, msgs, code := c.run("resume"); code != 0 {
		t.Fatalf("second resume: exit %d, want 0\n%s", code, msgs)
	}
	if got := len(srv.ByRecipient()["bob@example.com"]); got != 1 {
		t.Errorf("bob got %d messages, want 1", got)
	}
	if _, msgs, code := c.run("resume"); code != 0 || !strings.Contains(msgs, "nothing to resume") {
		t.Errorf("finished: exit %d, %q", code, msgs)
	}
}

// TestFeedbackImportInput: a path that is missing, or a FIFO, is refused
// before anything is applied (exit 66); what is read is summed up in one
// line, or one JSON object.
func TestFeedbackImportInput(t *testing.T) {
	c := newCLI(t)
	c.write("reply.eml", "From: ann@example.com\nTo: news@example.com\nSubject: Re: hello\nAuto-Submitted: auto-replied\n\nI am away.\n")
	if _, msgs, code := c.run("feedback", "import", "reply.eml", "nowhere.eml"); code != exitNoInput || !strings.Contains(msgs, "nowhere.eml") {
		t.Errorf("a missing path: exit %d, want %d; %q", code, exitNoInput, msgs)
	}
	fifo := filepath.Join(c.dir, "pipe")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, msgs, code := c.run("feedback", "import", "pipe"); code != exitNoInput {
		t.Errorf("a FIFO: exit %d, want %d; %q", code, exitNoInput, msgs)
	}
	if err := os.Mkdir(filepath.Join(c.dir, "plain"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, msgs, code := c.run("feedback", "import", "plain"); code != exitNoInput || !strings.Contains(msgs, "no Maildir") {
		t.Errorf("a plain directory: exit %d, want %d; %q", code, exitNoInput, msgs)
	}
	if _, msgs, code := c.run("feedback", "import", "--format", "aol", "reply.eml"); code != exitUsage || strings.Contains(msgs, "use ,") {
		t.Errorf("--format aol: exit %d, %q", code, msgs)
	}
	out, msgs, code := c.run("feedback", "import", "reply.eml")
	if code != 0 || !strings.HasPrefix(out, "1 message read: 0 hard bounces, 0 soft bounces, 0 delayed") || !strings.Contains(out, "1 auto-reply,") {
		t.Errorf("exit %d, out %q, messages %q", code, out, msgs)
	}
	out, _, _ = c.run("feedback", "import", "reply.eml", "--json")
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, `"auto_replies":1`) {
		t.Errorf("--json: %q, want one line", out)
	}
}

// sentCampaign sends a two-row campaign whose second row the relay
// defers, and returns the CLI to look at it with.
func sentCampaign(t *testing.T) *cli {
	c := newCLI(t)
	srv := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{
		Rcpt: func(addr string, _ int) *smtp.SMTPError {
			if strings.HasPrefix(addr, "bob@") {
				return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
			}
			return nil
		},
	}})
	useRelay(t, srv)
	c.write("message.tmpl", testTemplate)
	c.write("list.csv", "email,name\nann@example.com,Ann\nbob@example.com,Bob\n")
	if _, msgs, code := c.run("send", "list.csv", "--template", "message.tmpl", "--retry-wait", "0"); code != exitTempFail {
		t.Fatalf("send: exit %d\n%s", code, msgs)
	}
	return c
}

func TestStatusCommand(t *testing.T) {
	c := sentCampaign(t)
	out, _, code := c.run("status")
	if want := "list (unfinished): total 2, pending 0, in flight 0, sent 1, deferred 1, failed 0, skipped 0\n"; code != 0 || out != want {
		t.Errorf("status: exit %d\n got %q\nwant %q", code, out, want)
	}
	out, _, _ = c.run("status", "--json")
	var st statusJSON
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Campaign != "list" || st.Sent != 1 || st.Deferred != 1 || st.Finished {
		t.Errorf("status --json: %+v, %v\n%s", st, err, out)
	}
	if len(st.Relays) != 1 || st.Relays[0].Sent != 1 || st.Relays[0].Deferred != 1 {
		t.Errorf("status --json relays: %+v", st.Relays)
	}
	if _, msgs, code := c.run("status", "--campaign", "nope"); code == 0 || !strings.Contains(msgs, "nope") {
		t.Errorf("an unknown campaign: exit %d, %q", code, msgs)
	}
}

func TestReportCommand(t *testing.T) {
	c := sentCampaign(t)
	out, _, code := c.run("report")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "row,email,state,") ||
		!strings.HasPrefix(lines[1], "2,ann@example.com,sent,1,250,") || !strings.HasPrefix(lines[2], "3,bob@example.com,deferred,1,451,4.3.0,") {
		t.Errorf("report (CSV): exit %d\n%s", code, out)
	}
	out, _, _ = c.run("report", "--format", "json", "--state", "deferred")
	var row reportRow
	if err := json.Unmarshal([]byte(out), &row); err != nil || row.Email != "bob@example.com" || row.NextAttempt == "" || strings.Count(out, "\n") != 1 {
		t.Errorf("report --format json --state deferred: %+v %v\n%s", row, err, out)
	}
	page := filepath.Join(c.dir, "list.html")
	if _, msgs, code := c.run("report", "--format", "html", "-o", page); code != 0 {
		t.Fatalf("report --format html -o: exit %d %s", code, msgs)
	}
	if b, err := os.ReadFile(page); err != nil || !bytes.Contains(b, []byte("<html")) || !bytes.Contains(b, []byte("Delivery rate")) {
		t.Errorf("the page: %v\n%.300s", err, b)
	}
	for _, bad := range [][]string{{"report", "--state", "lost"}, {"report", "--format", "xml"}, {"report", "-o", page}, {"report", "--format", "html", "--state", "sent"}} {
		if _, _, code := c.run(bad...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", bad, code, exitUsage)
		}
	}
}

// useRelay points this test's commands at srv, without TLS, quietly.
func useRelay(t *testing.T, srv *sendertest.Server) {
	t.Setenv("MAILBLAST_SMTP_HOST", srv.Host())
	t.Setenv("MAILBLAST_SMTP_PORT", strconv.Itoa(srv.Port()))
	t.Setenv("MAILBLAST_SMTP_TLS", "none")
	t.Setenv("MAILBLAST_PROGRESS", "quiet")
}
