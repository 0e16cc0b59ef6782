package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailblast/mailblast/feedback"
	"github.com/mailblast/mailblast/listen/listentest"
	"github.com/mailblast/mailblast/sender/sendertest"
)

// listenSecret is the unsubscribe secret of these tests (32 bytes).
const listenSecret = "e2e-one-click-secret-32-bytes-ok"

// listenProc is a running `mailblast listen`.
type listenProc struct {
	t    *testing.T
	url  string // http://127.0.0.1:PORT
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  bytes.Buffer
	done chan struct{}
	code int
}

// startListen runs `mailblast listen --addr 127.0.0.1:0` in w and waits
// for its "listening" log line, which names the port it got.
func startListen(t *testing.T, w *workspace) *listenProc {
	t.Helper()
	p := &listenProc{t: t, done: make(chan struct{})}
	p.cmd = exec.Command(binary, "listen", "--addr", "127.0.0.1:0")
	p.cmd.Dir, p.cmd.Env = w.dir, w.env
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go p.readLog(stderr, addr)
	select {
	case a := <-addr:
		p.url = "http://" + a
	case <-p.done:
		t.Fatalf("listen exited %d before listening:\n%s", p.code, p.logText())
	case <-time.After(20 * time.Second):
		t.Fatalf("listen not listening within 20 s:\n%s", p.logText())
	}
	t.Cleanup(func() { p.stop() })
	return p
}

func (p *listenProc) readLog(r io.Reader, addr chan<- string) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		p.mu.Lock()
		p.log.WriteString(line + "\n")
		p.mu.Unlock()
		var l struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "listening" {
			addr <- l.Addr
		}
	}
	err := p.cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		p.code = ee.ExitCode()
	}
	close(p.done)
}

func (p *listenProc) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// stop sends SIGTERM and returns the exit code; listen must stop within
// 20 s.
func (p *listenProc) stop() int {
	select {
	case <-p.done:
		return p.code
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		p.t.Errorf("listen did not stop within 20 s of SIGTERM")
		<-p.done
	}
	return p.code
}

func (p *listenProc) post(path, ctype string, body []byte, hdr ...string) (int, string) {
	p.t.Helper()
	req, err := http.NewRequest(http.MethodPost, p.url+path, bytes.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return p.do(req)
}

func (p *listenProc) get(path string) (int, string) {
	p.t.Helper()
	req, err := http.NewRequest(http.MethodGet, p.url+path, nil)
	if err != nil {
		p.t.Fatal(err)
	}
	return p.do(req)
}

func (p *listenProc) do(req *http.Request) (int, string) {
	p.t.Helper()
	c := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v\nlisten log:\n%s", req.Method, req.URL.Path, err, p.logText())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// listenWorkspace is a workspace whose messages carry the signed one-click
// link and whose listen has keys for the webhooks named in extra (YAML).
func listenWorkspace(t *testing.T, srv *sendertest.Server, rows int, extra string) *workspace {
	t.Helper()
	w := forServer(t, srv, rows)
	w.write("unsub.secret", listenSecret)
	w.write("mailblast.yaml", "unsubscribe:\n  base_url: https://unsub.example/mb\n  secret_file: unsub.secret\n  mailto: unsubscribe@example.com\n"+extra)
	return w
}

// unsubLink is the field, folded or not.
var unsubLink = regexp.MustCompile(`(?m)^List-Unsubscribe: <https://unsub\.example/mb(/u/[a-z2-7]+)>,(?:\r\n)?[ \t]+<mailto:unsubscribe@example\.com>\r$`)

// linkPath is the path of the one-click link in addr's message.
func linkPath(t *testing.T, srv *sendertest.Server, addr string) string {
	t.Helper()
	msgs := srv.ByRecipient()[addr]
	if len(msgs) == 0 {
		t.Fatalf("no message to %s", addr)
	}
	m := unsubLink.FindSubmatch(msgs[0].Data)
	if m == nil || !bytes.Contains(msgs[0].Data, []byte("\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")) {
		t.Fatalf("message to %s has no signed one-click link:\n%s", addr, msgs[0].Data)
	}
	return string(m[1])
}

// listenCounts is status --json as a map, for the states the feedback work adds.
func listenCounts(t *testing.T, w *workspace, campaign ...string) map[string]any {
	t.Helper()
	var m map[string]any
	out := w.mustRun(0, append([]string{"status", "--json"}, campaign...)...)
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	return m
}

func sendForListen(t *testing.T, rows int, extra string) (*sendertest.Server, *workspace) {
	t.Helper()
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := listenWorkspace(t, srv, rows, extra)
	w.mustRun(0, "send", "list.csv")
	return srv, w
}

// The sent message carries the link; a GET of it and a forged token change
// nothing; the log names no token.
func TestListenOneClickRefusesAndGetChangesNothing(t *testing.T) {
	srv, w := sendForListen(t, 2, "")
	path := linkPath(t, srv, "user1@example.com")
	if linkPath(t, srv, "user2@example.com") == path {
		t.Fatal("two recipients share a link")
	}
	// preview builds the same link: it depends on the campaign and row only.
	if out := w.mustRun(0, "preview", "list.csv"); !strings.Contains(out, "<https://unsub.example/mb"+path+">") {
		t.Errorf("preview does not show the sent link %s:\n%s", path, out)
	}
	before, beforeSupp := listenCounts(t, w), w.mustRun(0, "suppress", "list")
	p := startListen(t, w)
	if code, page := p.get(path); code != 200 || !strings.Contains(page, `<form method="post">`) ||
		strings.Contains(page, "<script") || strings.Contains(page, "src=") {
		t.Fatalf("GET link: %d\n%s", code, page)
	}
	tok := strings.TrimPrefix(path, "/u/")
	last := "a"
	if strings.HasSuffix(tok, "a") {
		last = "b"
	}
	for _, forged := range []string{tok[:len(tok)-1] + last, tok[1:], tok + "a", "aaaaaaaaaaaaaaaaaaaa", "not-a-token!"} {
		code, _ := p.post("/u/"+forged, "application/x-www-form-urlencoded", []byte("List-Unsubscribe=One-Click"))
		if code < 400 || code > 499 {
			t.Errorf("forged token %q: %d, want 4xx", forged, code)
		}
	}
	if code, _ := p.post(path, "application/x-www-form-urlencoded", []byte("List-Unsubscribe=Maybe")); code != 400 {
		t.Errorf("wrong body: %d, want 400", code)
	}
	if code := p.stop(); code != 0 {
		t.Errorf("listen exited %d after SIGTERM, want 0", code)
	}
	if after := listenCounts(t, w); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("status changed:\n%v\n%v", before, after)
	}
	if w.mustRun(0, "suppress", "list") != beforeSupp {
		t.Error("suppression list changed")
	}
	log := p.logText()
	if strings.Contains(log, tok[2:]) || strings.Contains(log, listenSecret) {
		t.Errorf("log names the token or the secret:\n%s", log)
	}
	if n := strings.Count(log, `"msg":"request"`); n != 7 || !strings.Contains(log, `"path":"/u/TOKEN"`) {
		t.Errorf("%d request lines, want 7:\n%s", n, log)
	}
}

// A one-click POST of a received link unsubscribes that recipient, once.
func TestListenOneClickUnsubscribes(t *testing.T) {
	srv, w := sendForListen(t, 3, "")
	path := linkPath(t, srv, "user2@example.com")
	p := startListen(t, w)
	for i := 0; i < 2; i++ {
		if code, body := p.post(path, "application/x-www-form-urlencoded", []byte("List-Unsubscribe=One-Click")); code != 200 {
			t.Fatalf("POST %d: %d %s\n%s", i, code, body, p.logText())
		}
		c := listenCounts(t, w)
		if c["unsubscribed"] != float64(1) || c["sent"] != float64(2) {
			t.Errorf("after POST %d: %v", i, c)
		}
		supp := w.mustRun(0, "suppress", "list")
		if !strings.Contains(supp, "user2@example.com") || strings.Contains(supp, "user1@") || strings.Contains(supp, "user3@") {
			t.Errorf("after POST %d, suppress list:\n%s", i, supp)
		}
	}
}

// sesBounceFor is SES's bounce notification of addr's message.
func sesBounceFor(t *testing.T, srv *sendertest.Server, addr, feedbackID string) string {
	t.Helper()
	id := srv.ByRecipient()[addr][0].MessageID
	return fmt.Sprintf(`{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bounceSubType":"General","feedbackId":%q,
"timestamp":"2025-01-02T03:04:05.000Z","bouncedRecipients":[{"emailAddress":%q,"status":"5.1.1","action":"failed","diagnosticCode":"smtp; 550 5.1.1 no such user"}]},
"mail":{"messageId":"0102018d-ses-own","headers":[{"name":"Message-ID","value":%q}],"commonHeaders":{"messageId":%q}}}`, feedbackID, addr, id, id)
}

const sesDelivery = `{"notificationType":"Delivery","delivery":{"recipients":["user1@example.com"]},"mail":{"messageId":"x"}}`

// SES through SNS: a SubscriptionConfirmation is answered by fetching the
// SubscribeURL; signatures are checked with a certificate fetched from an
// allowed host over TLS; anything altered is refused.
func TestListenSES(t *testing.T) {
	sns := listentest.NewSNS(t)
	srv, w := sendForListen(t, 2, fmt.Sprintf("listen:\n  sns_cert_hosts: [%q]\n", sns.Host()))
	w.env = append(w.env, "SSL_CERT_FILE="+sns.CAFile(t, w.dir))
	p := startListen(t, w)
	topic := "arn:aws:sns:eu-west-1:123456789012:mailblast"
	if code, body := p.post("/webhooks/ses", "text/plain; charset=UTF-8", sns.SubscriptionConfirmation(topic).JSON()); code != 200 || sns.Subscribed() != 1 {
		t.Fatalf("SubscriptionConfirmation: %d %s, subscribed %d\n%s", code, body, sns.Subscribed(), p.logText())
	}
	if code, _ := p.post("/webhooks/ses", "text/plain", sns.Notification(topic, sesDelivery, "2").JSON()); code != 200 {
		t.Errorf("signed delivery notification: %d", code)
	}
	bad := sns.Notification(topic, sesBounceFor(t, srv, "user1@example.com", "fb-1"), "1")
	bad.Message = strings.Replace(bad.Message, "user1@", "user2@", 2)
	wrongHost := sns.Notification(topic, sesBounceFor(t, srv, "user1@example.com", "fb-1"), "2")
	wrongHost.SigningCertURL = "https://sns.eu-west-1.amazonaws.com.evil.example/cert.pem"
	for name, m := range map[string]listentest.Message{"altered": bad, "certificate host": wrongHost} {
		if code, _ := p.post("/webhooks/ses", "text/plain", m.JSON()); code != 403 {
			t.Errorf("%s: %d, want 403", name, code)
		}
	}
	if c := listenCounts(t, w); c["sent"] != float64(2) {
		t.Errorf("refused notifications changed the ledger: %v", c)
	}

	good := sns.Notification(topic, sesBounceFor(t, srv, "user1@example.com", "fb-1"), "2")
	if code, body := p.post("/webhooks/ses", "text/plain", good.JSON()); code != 200 {
		t.Fatalf("signed bounce: %d %s\n%s", code, body, p.logText())
	}
	if c := listenCounts(t, w); c["bounced"] != float64(1) || c["sent"] != float64(1) {
		t.Errorf("after the SES bounce: %v", c)
	}
	if !strings.Contains(w.mustRun(0, "suppress", "list"), "user1@example.com") {
		t.Error("the SES hard bounce (5.1.1) did not suppress user1")
	}
}

// SendGrid's signed event webhook with a generated ECDSA key.
func TestListenSendGrid(t *testing.T) {
	k := listentest.NewSendGridKey(t)
	srv, w := sendForListen(t, 2, "listen:\n  sendgrid_public_key_file: sendgrid.pub\n")
	w.write("sendgrid.pub", k.Public+"\n")
	p := startListen(t, w)
	id := srv.ByRecipient()["user2@example.com"][0].MessageID
	body := []byte(fmt.Sprintf(`[{"email":"user2@example.com","timestamp":1700000000,"smtp-id":%q,"event":"spamreport","sg_event_id":"sg-1"}]`, id))
	delivered := []byte(`[{"email":"user2@example.com","timestamp":1700000000,"smtp-id":"<x@y>","event":"delivered","sg_event_id":"sg-0"}]`)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	sig := func(b []byte) []string {
		return []string{"X-Twilio-Email-Event-Webhook-Signature", k.Sign(ts, b), "X-Twilio-Email-Event-Webhook-Timestamp", ts}
	}
	if code, _ := p.post("/webhooks/sendgrid", "application/json", delivered, sig(delivered)...); code != 200 {
		t.Errorf("signed delivered event: %d\n%s", code, p.logText())
	}
	other := listentest.NewSendGridKey(t)
	bad := []string{"X-Twilio-Email-Event-Webhook-Signature", other.Sign(ts, body), "X-Twilio-Email-Event-Webhook-Timestamp", ts}
	if code, _ := p.post("/webhooks/sendgrid", "application/json", body, bad...); code != 403 {
		t.Errorf("other key's signature: %d, want 403", code)
	}
	if code, _ := p.post("/webhooks/mailgun", "application/json", []byte("{}")); code != 404 {
		t.Errorf("unconfigured mailgun: %d, want 404", code)
	}
	if c := listenCounts(t, w); c["sent"] != float64(2) {
		t.Errorf("refused events changed the ledger: %v", c)
	}

	if code, _ := p.post("/webhooks/sendgrid", "application/json", body, sig(body)...); code != 200 {
		t.Fatalf("signed spamreport: %d\n%s", code, p.logText())
	}
	if c := listenCounts(t, w); c["complained"] != float64(1) {
		t.Errorf("after the SendGrid spam report: %v", c)
	}
}

// Mailgun's HMAC, with stale timestamps and reused tokens refused.
func TestListenMailgun(t *testing.T) {
	srv, w := sendForListen(t, 2, "listen:\n  mailgun_signing_key_file: mailgun.key\n")
	key := []byte("key-e2e-mailgun-signing")
	w.write("mailgun.key", string(key)+"\n")
	p := startListen(t, w)
	now := time.Now()
	ts := strconv.FormatInt(now.Unix(), 10)
	delivered := `{"event":"delivered","id":"d1","timestamp":1700000000,"recipient":"user1@example.com","message":{"headers":{"message-id":"x@y"}}}`
	if code, _ := p.post("/webhooks/mailgun", "application/json", listentest.MailgunBody(key, ts, "tok-1", delivered)); code != 200 {
		t.Fatalf("signed delivered: %d\n%s", code, p.logText())
	}
	stale := strconv.FormatInt(now.Add(-10*time.Minute).Unix(), 10)
	for name, body := range map[string][]byte{
		"reused token":  listentest.MailgunBody(key, ts, "tok-1", delivered),
		"stale":         listentest.MailgunBody(key, stale, "tok-2", delivered),
		"bad signature": listentest.MailgunBody([]byte("key-guess"), ts, "tok-3", delivered),
	} {
		if code, _ := p.post("/webhooks/mailgun", "application/json", body); code != 403 {
			t.Errorf("%s: %d, want 403", name, code)
		}
	}

	id := strings.Trim(srv.ByRecipient()["user1@example.com"][0].MessageID, "<>")
	failed := fmt.Sprintf(`{"event":"failed","severity":"permanent","id":"mg-1","timestamp":%d,"recipient":"user1@example.com",
"message":{"headers":{"message-id":%q}},"delivery-status":{"code":550,"message":"550 5.1.1 no such user"}}`, now.Unix(), id)
	if code, _ := p.post("/webhooks/mailgun", "application/json", listentest.MailgunBody(key, ts, "tok-4", failed)); code != 200 {
		t.Fatalf("signed failed: %d\n%s", code, p.logText())
	}
	if c := listenCounts(t, w); c["bounced"] != float64(1) {
		t.Errorf("after the Mailgun failure: %v", c)
	}
}

// Bodies past the limits get 413; a client that never finishes its
// header is cut off; SIGTERM stops listen cleanly.
func TestListenLimits(t *testing.T) {
	_, w := sendForListen(t, 1, "listen:\n  mailgun_signing_key_file: mailgun.key\n")
	w.write("mailgun.key", "key-e2e\n")
	p := startListen(t, w)
	tok := feedback.SignToken([]byte(listenSecret), feedback.PurposeUnsubscribe, feedback.Target{CampaignID: 1, Row: 1})
	big := []byte("List-Unsubscribe=One-Click&pad=" + strings.Repeat("x", 100<<10))
	if code, _ := p.post("/u/"+tok, "application/x-www-form-urlencoded", big); code != 413 {
		t.Errorf("100 KiB form: %d, want 413", code)
	}
	if code, _ := p.post("/webhooks/mailgun", "application/json", bytes.Repeat([]byte(" "), 2<<20)); code != 413 {
		t.Errorf("2 MiB webhook: %d, want 413", code)
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("POST /u/" + tok + " HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err = io.ReadAll(conn) // returns when the server closes the connection
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Errorf("a half-sent header held the connection for 20 s")
	}
	if c := listenCounts(t, w); c["sent"] != float64(1) {
		t.Errorf("refused requests changed the ledger: %v", c)
	}
	if code := p.stop(); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}
	// listen sends nothing: its signal words are not send's.
	if l := p.logText(); strings.Contains(l, "in flight") || !strings.Contains(l, "terminated: stopping") {
		t.Errorf("SIGTERM said:\n%s", l)
	}
}

// Bad settings stop listen and send with exit 78, naming the key.
func TestListenConfigRefused(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	for _, tc := range []struct{ name, yaml, secret, want string }{
		{"short secret", "unsubscribe:\n  base_url: https://u.example\n  secret_file: s\n", "short", "unsubscribe.secret_file"},
		{"missing secret", "unsubscribe:\n  base_url: https://u.example\n  secret_file: none\n", listenSecret, "unsubscribe.secret_file"},
		{"both urls", "unsubscribe:\n  url: https://u.example/x\n  base_url: https://u.example\n  secret_file: s\n", listenSecret, "unsubscribe.base_url"},
		{"plain http", "unsubscribe:\n  base_url: http://u.example\n  secret_file: s\n", listenSecret, "unsubscribe.base_url"},
		{"sendgrid key", "listen:\n  sendgrid_public_key_file: s\n", listenSecret, "listen.sendgrid_public_key_file"},
	} {
		w := forServer(t, srv, 1)
		w.write("s", tc.secret)
		w.write("mailblast.yaml", tc.yaml)
		for _, args := range [][]string{{"listen", "--addr", "127.0.0.1:0"}, {"send", "list.csv"}} {
			if tc.name == "sendgrid key" && args[0] == "send" {
				continue // a listen key: send does not read it
			}
			_, errs, code := w.run(args...)
			if code != 78 || !strings.Contains(errs, tc.want) || strings.Contains(errs, listenSecret) {
				t.Errorf("%s: %s: exit %d, want 78 naming %s:\n%s", tc.name, args[0], code, tc.want, errs)
			}
		}
	}
	if srv.Count() != 0 {
		t.Errorf("%d messages sent with a bad configuration", srv.Count())
	}
}

// TestListenOneClickRate measures one-click POSTs per second against a
// running listen: every recipient of a 2,000-row campaign unsubscribes
// through 4 concurrent clients, then all do again (duplicates). Run with
// MAILBLAST_BENCH_LISTEN=1; the figure goes to BENCHMARKS.md.
func TestListenOneClickRate(t *testing.T) {
	if os.Getenv("MAILBLAST_BENCH_LISTEN") == "" {
		t.Skip("set MAILBLAST_BENCH_LISTEN=1 to measure")
	}
	const rows = 2000
	srv, w := sendForListen(t, rows, "")
	paths := make([]string, 0, rows)
	for i := 1; i <= rows; i++ {
		paths = append(paths, linkPath(t, srv, fmt.Sprintf("user%d@example.com", i)))
	}
	p := startListen(t, w)
	for _, pass := range []string{"first", "again"} {
		start := time.Now()
		postAll(t, p, paths, 4)
		d := time.Since(start)
		t.Logf("%s pass: %d one-click POSTs in %v: %.0f/s", pass, rows, d.Round(time.Millisecond), float64(rows)/d.Seconds())
	}
	if c := listenCounts(t, w); c["unsubscribed"] != float64(rows) {
		t.Errorf("status after the run: %v", c)
	}
}

func postAll(t *testing.T, p *listenProc, paths []string, workers int) {
	t.Helper()
	next := make(chan string)
	var wg sync.WaitGroup
	var mu sync.Mutex
	bad := 0
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for path := range next {
				resp, err := client.Post(p.url+path, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != 200 {
					mu.Lock()
					bad++
					mu.Unlock()
				}
			}
		}()
	}
	for _, path := range paths {
		next <- path
	}
	close(next)
	wg.Wait()
	if bad > 0 {
		t.Errorf("%d of %d POSTs failed", bad, len(paths))
	}
}

// listen beside a running send on the same state directory: every one-click
// POST made while the send is in the middle of its campaign is answered
// 200 and stored, and the send finishes as usual. The relay holds the
// send's later messages until the POSTs are done, so the two overlap.
func TestListenBesideSend(t *testing.T) {
	release := make(chan struct{})
	let := sync.OnceFunc(func() { close(release) })
	var seen atomic.Int32
	srv := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{Data: func(rcpts []string, _ []byte) *smtp.SMTPError {
		if strings.HasPrefix(rcpts[0], "other") && seen.Add(1) > 50 {
			<-release
		}
		return nil
	}}})
	t.Cleanup(let) // registered after the relay's: runs before it waits for its sessions
	w := listenWorkspace(t, srv, 20, "")
	w.mustRun(0, "send", "list.csv")
	var paths []string
	for i := 1; i <= 20; i++ {
		paths = append(paths, linkPath(t, srv, fmt.Sprintf("user%d@example.com", i)))
	}
	var b strings.Builder
	b.WriteString("email,first_name,n\n")
	for i := 1; i <= 300; i++ {
		fmt.Fprintf(&b, "other%d@example.org,Other%d,%d\n", i, i, i)
	}
	w.write("list2.csv", b.String())
	p := startListen(t, w)
	send, _, sendErr := w.command("send", "list2.csv", "--connections", "4")
	if err := send.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); srv.Count() < 20+50; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the second send did not get going: %d messages", srv.Count())
		}
	}
	postAll(t, p, paths, 4)
	postAll(t, p, paths, 4) // again: duplicates, still 200
	let()
	if err := send.Wait(); err != nil {
		t.Fatalf("the send beside listen: %v\n%s", err, sendErr)
	}
	if c := listenCounts(t, w, "--campaign", "list"); c["unsubscribed"] != float64(20) {
		t.Errorf("first campaign: %v", c)
	}
	if c := listenCounts(t, w, "--campaign", "list2"); c["sent"] != float64(300) {
		t.Errorf("second campaign: %v", c)
	}
}
