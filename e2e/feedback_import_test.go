package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailblast/mailblast/feedback"
	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/sender/sendertest"
)

// sentWithReturnPath sends a 3-row campaign with return_path set to a relay
// offering DSN, and checks that every MAIL FROM is bounces+TOKEN@example.com
// with the same TOKEN as ENVID, signed with the ledger's key for the row
// that message went to. It returns each recipient's token and Message-ID.
func sentWithReturnPath(t *testing.T) (*workspace, map[string]string, map[string]string) {
	t.Helper()
	srv := sendertest.NewServer(t, sendertest.Options{DSN: true})
	w := forServer(t, srv, 3)
	w.env = append(w.env, "MAILBLAST_RETURN_PATH=bounces@example.com")
	w.mustRun(0, "send", "list.csv")
	rows := w.report()
	key := verpKey(t, w)
	tokens, ids := map[string]string{}, map[string]string{}
	for _, m := range srv.Messages() {
		to := m.To[0]
		tok, ok := strings.CutPrefix(m.From, "bounces+")
		tok, ok2 := strings.CutSuffix(tok, "@example.com")
		target, valid := feedback.VerifyToken(key, feedback.PurposeVERP, tok)
		if !ok || !ok2 || !valid || target.Row != rows[to].Row {
			t.Fatalf("MAIL FROM %q for %s (row %d): not a token verifying to its row (%+v %v)", m.From, to, rows[to].Row, target, valid)
		}
		if m.EnvID != tok || len(m.ORCPT) != 1 || !strings.EqualFold(m.ORCPT[0], "rfc822;"+to) {
			t.Fatalf("ENVID %q ORCPT %q for %s, want the token and rfc822;%s", m.EnvID, m.ORCPT, to, to)
		}
		tokens[to] = tok
		ids[to] = strings.Trim(m.MessageID, "<>")
		if ids[to] != rows[to].MessageID {
			t.Fatalf("Message-ID %q on the wire, %q in the ledger", ids[to], rows[to].MessageID)
		}
	}
	if len(tokens) != 3 {
		t.Fatalf("%d messages arrived, want 3", len(tokens))
	}
	return w, tokens, ids
}

// verpKey reads the key the binary made in the workspace's ledger.
func verpKey(t *testing.T, w *workspace) []byte {
	t.Helper()
	s, err := ledger.Open(filepath.Join(w.dir, "state", "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	key, err := feedback.VERPKey(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// TestReturnPathCarriesVerifiableToken: with return_path set, the envelope
// sender and ENVID carry a token the ledger's key verifies for the row.
func TestReturnPathCarriesVerifiableToken(t *testing.T) {
	sentWithReturnPath(t)
}

func dsn(token, recipient, messageID string) string {
	to := "bounces@example.com"
	if token != "" {
		to = "bounces+" + token + "@example.com"
	}
	return fmt.Sprintf(`From: MAILER-DAEMON@relay.example
To: %s
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn-%s@relay.example>
Date: Mon, 2 Mar 2026 10:00:00 +0000
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

Your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; relay.example
Original-Envelope-Id: %s

Final-Recipient: rfc822; %s
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <%s>: Recipient address rejected: User unknown

--B
Content-Type: text/rfc822-headers

From: Sender <news@example.com>
To: %s
Subject: Hello
Message-ID: <%s>

--B--
`, to, strings.ReplaceAll(messageID, "@", "."), token, recipient, recipient, recipient, messageID)
}

func arf(messageID string) string {
	return fmt.Sprintf(`From: fbl@mailbox.example
To: abuse@example.com
Subject: FW: Hello
Message-ID: <arf-%s@mailbox.example>
Date: Mon, 2 Mar 2026 11:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="A"

--A
Content-Type: text/plain

This is an email abuse report.

--A
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: SomeGenerator/1.0
Version: 1

--A
Content-Type: text/rfc822-headers

From: Sender <news@example.com>
Subject: Hello
Message-ID: <%s>

--A--
`, strings.ReplaceAll(messageID, "@", "."), messageID)
}

type importSummary struct {
	Messages     int `json:"messages"`
	HardBounces  int `json:"hard_bounces"`
	Complaints   int `json:"complaints"`
	Unmatched    int `json:"unmatched"`
	Duplicates   int `json:"duplicates"`
	Unreadable   int `json:"unreadable"`
	Unsubscribes int `json:"unsubscribes"`
}

func (w *workspace) importFeedback(args ...string) importSummary {
	w.t.Helper()
	out := w.mustRun(0, append([]string{"feedback", "import", "--json"}, args...)...)
	var s importSummary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		w.t.Fatalf("feedback import --json: %v\n%s", err, out)
	}
	return s
}

type feedbackStatus struct {
	Sent, Bounced, Complained, Unsubscribed int
}

// TestFeedbackImportEndToEnd: hand-made reports built from a real send's
// tokens and Message-IDs move the right rows and suppress the right
// addresses; a forged one moves nobody; a second import changes nothing.
func TestFeedbackImportEndToEnd(t *testing.T) {
	w, tokens, ids := sentWithReturnPath(t)
	box := filepath.Join(w.dir, "Maildir")
	for _, d := range []string{"new", "cur", "tmp"} {
		if err := os.MkdirAll(filepath.Join(box, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	forged := "0123456789abcdef01234567.4@example.com" // the form, never issued
	for name, body := range map[string]string{
		"new/1.eml": dsn(tokens["user1@example.com"], "user1@example.com", ids["user1@example.com"]),
		"new/2.eml": arf(ids["user2@example.com"]),
		"cur/3.eml": dsn("", "user3@example.com", forged),
	} {
		w.write(filepath.Join("Maildir", name), body)
	}
	sum := w.importFeedback(box)
	if sum.Messages != 3 || sum.HardBounces != 1 || sum.Complaints != 1 || sum.Unmatched != 1 || sum.Unreadable != 0 {
		t.Fatalf("first import: %+v", sum)
	}
	wantState(t, w, feedbackStatus{Sent: 1, Bounced: 1, Complained: 1})
	wantSuppressed(t, w, "user1@example.com", "user2@example.com")

	again := w.importFeedback(box)
	if again.Duplicates != 2 || again.HardBounces != 0 || again.Complaints != 0 || again.Unmatched != 1 {
		t.Fatalf("second import: %+v, want two duplicates and nothing applied", again)
	}
	wantState(t, w, feedbackStatus{Sent: 1, Bounced: 1, Complained: 1})
	wantSuppressed(t, w, "user1@example.com", "user2@example.com")
	if out := w.mustRun(0, "report", "--format", "json", "--state", "bounced"); !strings.Contains(out, "user1@example.com") || strings.Count(out, "\n") != 1 {
		t.Errorf("report --state bounced:\n%s", out)
	}
}

func wantState(t *testing.T, w *workspace, want feedbackStatus) {
	t.Helper()
	var got feedbackStatus
	if err := json.Unmarshal([]byte(w.mustRun(0, "status", "--json")), &got); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("status: %+v, want %+v", got, want)
	}
}

func wantSuppressed(t *testing.T, w *workspace, want ...string) {
	t.Helper()
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(w.mustRun(0, "suppress", "list", "--json")), "\n") {
		var s ledger.Suppression
		if line == "" {
			continue
		}
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatal(err)
		}
		got = append(got, s.Address)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("suppressed %v, want %v", got, want)
	}
}

// TestFeedbackImportUnreadable: a path that does not exist stops the
// import before anything is applied (exit 66, like a missing list); input
// that cannot be read is named (the file, and in an mbox the message's
// number), the rest goes on, and the exit is 65 after the summary.
func TestFeedbackImportUnreadable(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 1)
	if err := os.Mkdir(filepath.Join(w.dir, "plain"), 0o700); err != nil {
		t.Fatal(err)
	}
	if out, errs, code := w.run("feedback", "import", "--json", "missing.eml"); code != 66 || out != "" || !strings.Contains(errs, "missing.eml") {
		t.Fatalf("a missing path: exit %d, want 66 before anything is read; stdout %q, stderr:\n%s", code, out, errs)
	}
	if _, errs, code := w.run("feedback", "import", "plain"); code != 66 || !strings.Contains(errs, "no Maildir") {
		t.Fatalf("a directory that is no Maildir: exit %d, want 66; %s", code, errs)
	}
	w.write("junk.eml", "\x00\x01 not a message")
	w.write("junk2.eml", "")
	out, errs, code := w.run("feedback", "import", "--json", "junk.eml", "junk2.eml")
	if code != 65 || !strings.Contains(errs, "junk.eml") || !strings.Contains(errs, "junk2.eml") {
		t.Fatalf("exit %d, stderr:\n%s", code, errs)
	}
	var sum importSummary
	if err := json.Unmarshal([]byte(out), &sum); err != nil || sum.Unreadable != 2 {
		t.Fatalf("summary %+v (%v):\n%s", sum, err, out)
	}
	if _, _, code := w.run("feedback", "import", "--format", "aol", "x.json"); code != 64 {
		t.Errorf("--format aol: exit %d, want 64", code)
	}
}
