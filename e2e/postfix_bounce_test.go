package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailblast/mailblast/feedback"
)

// bouncer is a private Postfix on loopback that accepts everything with
// 250 and then bounces, for real, every recipient whose address starts
// with "gone": a pipe transport exits 67 (EX_NOUSER) and Postfix's own
// bounce daemon writes an RFC 3464 DSN to the envelope sender. Mail to
// the domain bounce.test (the return path) is delivered by the virtual
// agent into one Maildir; everything else is discarded.
type bouncer struct {
	host    string
	port    int
	maildir string // DIR/mail/inbox: new/ holds the DSNs
	dir     string
}

// newBouncer starts the bouncer and stops it when t ends. Without
// Postfix it skips, or fails under MAILBLAST_REQUIRE_REAL_SERVERS (set by
// scripts/test.sh, whose install-deps.sh installs postfix).
func newBouncer(t testing.TB) *bouncer {
	t.Helper()
	postfix := "/usr/sbin/postfix"
	if _, err := os.Stat(postfix); err != nil {
		if os.Getenv("MAILBLAST_REQUIRE_REAL_SERVERS") != "" {
			t.Fatal("postfix not installed (scripts/install-deps.sh installs it)")
		}
		t.Skip("postfix not installed; run scripts/install-deps.sh")
	}
	pf, err := user.Lookup("postfix")
	if err != nil {
		t.Fatalf("the postfix user: %v", err)
	}
	// The postfix user must reach the queue and the Maildir: not under
	// t.TempDir (0700), and removed by us.
	dir, err := os.MkdirTemp("", "mailblast-bouncer-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	b := &bouncer{host: "127.0.0.1", port: freePort(t), dir: dir, maildir: filepath.Join(dir, "mail", "inbox")}
	b.writeConfig(t, pf)
	b.run(t, postfix, "start")
	t.Cleanup(func() { exec.Command(postfix, "-c", filepath.Join(dir, "etc"), "stop").Run() })
	b.waitListening(t)
	return b
}

func (b *bouncer) writeConfig(t testing.TB, pf *user.User) {
	t.Helper()
	etc := filepath.Join(b.dir, "etc")
	for _, d := range []string{etc, filepath.Join(b.dir, "queue"), filepath.Join(b.dir, "data"), filepath.Join(b.dir, "log"), filepath.Join(b.dir, "mail")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(b.dir, 0o755)
	uid, _ := strconv.Atoi(pf.Uid)
	gid, _ := strconv.Atoi(pf.Gid)
	for _, d := range []string{"data", "mail"} {
		if err := os.Chown(filepath.Join(b.dir, d), uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"main.cf":   b.mainCF(uid, gid),
		"master.cf": b.masterCF(),
		"transport": "/^gone/ gone:\n/^later/ later:\n",
		"vmailbox":  "/.*/ inbox/\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(etc, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func (b *bouncer) mainCF(uid, gid int) string {
	d := b.dir
	return fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/queue
data_directory = %[1]s/data
maillog_file = %[1]s/log/maillog
maillog_file_prefixes = %[1]s
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = bouncer.test
mydomain = bouncer.test
myorigin = bouncer.test
mydestination =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions = permit_mynetworks, reject
alias_maps =
alias_database =
local_recipient_maps =
biff = no
smtputf8_enable = yes
recipient_delimiter = +
transport_maps = regexp:%[1]s/etc/transport
default_transport = discard
virtual_mailbox_domains = bounce.test
virtual_mailbox_base = %[1]s/mail
virtual_mailbox_maps = regexp:%[1]s/etc/vmailbox
virtual_uid_maps = static:%[2]d
virtual_gid_maps = static:%[3]d
virtual_minimum_uid = 1
# One try: "later" recipients (EX_TEMPFAIL) fail with a 4.x.x status at once.
maximal_queue_lifetime = 0
bounce_queue_lifetime = 0
`, d, uid, gid)
}

// masterCF is Postfix's default service table with chroot off, smtpd on
// our port, and the transport that bounces.
func (b *bouncer) masterCF() string {
	return fmt.Sprintf(`%s:%d inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
gone      unix  -       n       n       -       -       pipe flags=q user=nobody argv=/bin/sh -c { exit 67 }
later     unix  -       n       n       -       -       pipe flags=q user=nobody argv=/bin/sh -c { exit 75 }
`, b.host, b.port)
}

func (b *bouncer) run(t testing.TB, postfix string, args ...string) {
	t.Helper()
	cmd := exec.Command(postfix, append([]string{"-c", filepath.Join(b.dir, "etc")}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("postfix %s: %v\n%s\n%s", strings.Join(args, " "), err, out, b.log())
	}
}

func (b *bouncer) log() string {
	data, _ := os.ReadFile(filepath.Join(b.dir, "log", "maillog"))
	return string(data)
}

func (b *bouncer) waitListening(t testing.TB) {
	t.Helper()
	addr := net.JoinHostPort(b.host, strconv.Itoa(b.port))
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("postfix does not listen on %s: %v\n%s", addr, err, b.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitMaildir waits until new/ holds n messages and returns their paths.
func waitMaildir(t testing.TB, maildir string, n int, log func() string) []string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(maildir, "new", "*"))
		if len(files) >= n {
			return files
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d DSNs in %s after 60 s\n%s", len(files), n, maildir, log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sendOne sends one message from the VERP address to rcpts, with its own
// Message-ID, and returns that ID.
func sendOne(t testing.TB, addr, from string, rcpts []string, n int) string {
	t.Helper()
	return sendDSN(t, addr, from, rcpts, n, nil)
}

// sendDSN is sendOne with RFC 3461 options (ENVID, RET) on MAIL FROM.
func sendDSN(t testing.TB, addr, from string, rcpts []string, n int, opts *smtp.MailOptions) string {
	t.Helper()
	id := fmt.Sprintf("bouncer-test-%d-%d@mailblast.test", n, time.Now().UnixNano())
	msg := fmt.Sprintf("From: news@bounce.test\r\nTo: %s\r\nSubject: test %d\r\nMessage-ID: <%s>\r\nDate: %s\r\n\r\nHello %d.\r\n",
		strings.Join(rcpts, ", "), n, id, time.Now().Format(time.RFC1123Z), n)
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	// Plain SMTP on loopback: the bouncer offers no STARTTLS.
	if err := transact(c, from, rcpts, msg, opts); err != nil {
		t.Fatalf("sending %d: %v", n, err)
	}
	return id
}

// TestPostfixBouncesParse: a real Postfix accepts, then bounces gone1@ and
// gone2@ (and delivers ok@); the DSNs its bounce daemon writes parse as
// hard bounces with the VERP token and the original's Message-ID.
func TestPostfixBouncesParse(t *testing.T) {
	b := newBouncer(t)
	addr := net.JoinHostPort(b.host, strconv.Itoa(b.port))
	from := "bounces+TOKENX@bounce.test"
	ids := map[string]string{}
	for i, rcpt := range []string{"gone1@example.net", "gone2@example.net", "ok@example.net"} {
		ids[rcpt] = sendOne(t, addr, from, []string{rcpt}, i)
	}
	files := waitMaildir(t, b.maildir, 2, b.log)
	seen := map[string]bool{}
	for _, f := range files {
		ev := parseOneEvent(t, f)
		if ev.Kind != feedback.HardBounce || !strings.HasPrefix(ev.Status, "5.") || ev.Token != "TOKENX" {
			t.Errorf("%s: %+v, want a hard bounce 5.x.x with token TOKENX", f, ev)
		}
		if want, ok := ids[ev.Address]; !ok || ev.MessageID != want {
			t.Errorf("%s: address %q, Message-ID %q; sent %v", f, ev.Address, ev.MessageID, ids)
		}
		seen[ev.Address] = true
	}
	if !seen["gone1@example.net"] || !seen["gone2@example.net"] || seen["ok@example.net"] {
		t.Errorf("bounced: %v, want gone1 and gone2 only", seen)
	}
	// ok@ was discarded, not bounced: no third DSN turns up.
	time.Sleep(2 * time.Second)
	if files, _ := filepath.Glob(filepath.Join(b.maildir, "new", "*")); len(files) != 2 {
		t.Errorf("%d DSNs, want 2", len(files))
	}
	if dst := os.Getenv("MAILBLAST_KEEP_DSNS"); dst != "" {
		keepDSNs(t, files, dst)
	}
}

func transact(c *smtp.Client, from string, rcpts []string, msg string, opts *smtp.MailOptions) error {
	if err := c.Mail(from, opts); err != nil {
		return err
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, &smtp.RcptOptions{OriginalRecipientType: smtp.DSNAddressTypeRFC822, OriginalRecipient: r}); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		return err
	}
	return w.Close()
}

// TestPostfixBouncesEveryBlock: one message to two gone recipients and one
// that fails temporarily, sent with ENVID and RET=HDRS, comes back as
// real DSNs (Postfix writes the permanent failures in one, of two
// blocks, and the expired one apart) with the headers only
// (text/rfc822-headers); every block is an Event.
func TestPostfixBouncesEveryBlock(t *testing.T) {
	b := newBouncer(t)
	addr := net.JoinHostPort(b.host, strconv.Itoa(b.port))
	rcpts := []string{"gone3@example.net", "gone4@example.net", "later1@example.net"}
	opts := &smtp.MailOptions{EnvelopeID: "ENV+TOKEN", Return: smtp.DSNReturnHeaders}
	id := sendDSN(t, addr, "bounces+OTHER@bounce.test", rcpts, 9, opts)
	want := map[string]feedback.Kind{"gone3@example.net": feedback.HardBounce, "gone4@example.net": feedback.HardBounce, "later1@example.net": feedback.SoftBounce}
	got := map[string]feedback.Kind{}
	for _, f := range waitMaildir(t, b.maildir, 2, b.log) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := feedback.Parse(strings.NewReader(string(data)))
		if err != nil || rep.Class != feedback.ClassDSN {
			t.Fatalf("%+v, %v\n%s", rep, err, data)
		}
		for _, ev := range rep.Events {
			got[ev.Address] = ev.Kind
			if ev.EnvID != "ENV+TOKEN" || ev.MessageID != id {
				t.Errorf("%+v; want ENVID ENV+TOKEN, Message-ID %s", ev, id)
			}
		}
		if dst := os.Getenv("MAILBLAST_KEEP_DSNS"); dst != "" {
			os.WriteFile(filepath.Join(dst, fmt.Sprintf("postfix-dsn-envid-%d.eml", len(rep.Events))), data, 0o644)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events %v, want %v", got, want)
	}
}

func parseOneEvent(t testing.TB, path string) feedback.Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := feedback.Parse(f)
	if err != nil || rep.Class != feedback.ClassDSN || len(rep.Events) != 1 {
		t.Fatalf("%s: %+v, %v; want one DSN event", path, rep, err)
	}
	return rep.Events[0]
}

// keepDSNs copies the DSNs to dst, to refresh feedback/testdata by hand.
func keepDSNs(t testing.TB, files []string, dst string) {
	for i, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dst, fmt.Sprintf("postfix-dsn-%d.eml", i)), data, 0o644)
	}
}

// TestPostfixBouncesImport, end to end through the real binary: a
// campaign sent through the bouncer with a return_path comes back as
// real DSNs; feedback import of the Maildir marks the gone recipients
// bounced and suppresses them, and leaves the delivered one alone.
func TestPostfixBouncesImport(t *testing.T) {
	b := newBouncer(t)
	w := newWorkspace(t, b.host, b.port, 0)
	w.write("list.csv", "email,first_name,n\ngone1@example.net,A,1\ngone2@example.net,B,2\nok1@example.net,C,3\n")
	w.env = append(w.env, "MAILBLAST_RETURN_PATH=bounces@bounce.test")
	w.mustRun(0, "send", "list.csv")
	waitMaildir(t, b.maildir, 2, b.log)
	w.mustRun(0, "feedback", "import", b.maildir)
	out := w.mustRun(0, "status", "--json")
	var st struct{ Sent, Bounced int }
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if st.Bounced != 2 || st.Sent != 1 {
		t.Errorf("status: %s; want 2 bounced and 1 sent", out)
	}
	list := w.mustRun(0, "suppress", "list")
	if !strings.Contains(list, "gone1@example.net") || !strings.Contains(list, "gone2@example.net") || strings.Contains(list, "ok1@example.net") {
		t.Errorf("suppress list:\n%s\nwant gone1 and gone2 only", list)
	}
	// A second import changes nothing.
	w.mustRun(0, "feedback", "import", b.maildir)
	if again := w.mustRun(0, "status", "--json"); again != out {
		t.Errorf("status after a second import:\n%s\nwas\n%s", again, out)
	}
}
