package listen_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailblast/mailblast/feedback"
	"github.com/mailblast/mailblast/listen"
	"github.com/mailblast/mailblast/listen/listentest"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

// recorder is an Applier that keeps the Events; fails makes the first
// calls fail, like a busy ledger.
type recorder struct {
	mu    sync.Mutex
	evs   []feedback.Event
	keys  map[string]bool
	fails int
}

func (r *recorder) Apply(_ context.Context, ev feedback.Event) (feedback.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fails > 0 {
		r.fails--
		return "", errors.New("database is locked")
	}
	if r.keys == nil {
		r.keys = map[string]bool{}
	}
	if r.keys[ev.Key] {
		return feedback.Duplicate, nil
	}
	r.keys[ev.Key] = true
	r.evs = append(r.evs, ev)
	return feedback.Applied, nil
}

func (r *recorder) events() []feedback.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]feedback.Event(nil), r.evs...)
}

func serve(t *testing.T, cfg listen.Config, rec *recorder) *httptest.Server {
	t.Helper()
	cfg.NewApplier = func(context.Context) (listen.Applier, error) { return rec, nil }
	srv := httptest.NewServer(listen.New(cfg))
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, u, ctype string, body []byte, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const oneClickBody = "List-Unsubscribe=One-Click"

func TestOneClick(t *testing.T) {
	rec := &recorder{}
	srv := serve(t, listen.Config{Secret: secret}, rec)
	tok := feedback.SignToken(secret, feedback.PurposeUnsubscribe, feedback.Target{CampaignID: 4, Row: 17})
	link := srv.URL + "/u/" + tok

	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `<form method="post">`) || strings.Contains(string(page), "<script") {
		t.Fatalf("GET: %d %s", resp.StatusCode, page)
	}
	if len(rec.events()) != 0 {
		t.Fatal("GET applied an event")
	}
	for i := 0; i < 2; i++ { // idempotent
		if code, body := post(t, link, "application/x-www-form-urlencoded", []byte(oneClickBody)); code != 200 {
			t.Fatalf("POST %d: %d %s", i, code, body)
		}
	}
	evs := rec.events()
	if len(evs) != 1 || evs[0].Kind != feedback.Unsubscribe || evs[0].Source != "one-click" ||
		evs[0].Target == nil || *evs[0].Target != (feedback.Target{CampaignID: 4, Row: 17}) || evs[0].Key != "unsub:4:17" {
		t.Fatalf("events %+v", evs)
	}
	// The upper-cased token (some clients fold case) is the same link.
	if code, _ := post(t, srv.URL+"/u/"+strings.ToUpper(tok), "application/x-www-form-urlencoded", []byte(oneClickBody)); code != 200 {
		t.Errorf("upper-case token: %d", code)
	}
}

func TestOneClickRefused(t *testing.T) {
	rec := &recorder{}
	srv := serve(t, listen.Config{Secret: secret}, rec)
	tok := feedback.SignToken(secret, feedback.PurposeUnsubscribe, feedback.Target{CampaignID: 4, Row: 17})
	forged := tok[:len(tok)-1] + string("ab"[0]+(tok[len(tok)-1]-'a'+1)%2)
	// The same bytes in another spelling: the last base32 character's
	// spare low bits flipped.
	const b32 = "abcdefghijklmnopqrstuvwxyz234567"
	spare := tok[:len(tok)-1] + string(b32[strings.IndexByte(b32, tok[len(tok)-1])^1])
	verp := feedback.SignToken(secret, feedback.PurposeVERP, feedback.Target{CampaignID: 4, Row: 17})
	form := "application/x-www-form-urlencoded"
	for _, tc := range []struct {
		name, path, ctype, body string
		want                    int
	}{
		{"forged", "/u/" + forged, form, oneClickBody, 404},
		{"spare bits", "/u/" + spare, form, oneClickBody, 404},
		{"VERP token", "/u/" + verp, form, oneClickBody, 404},
		{"other key", "/u/" + feedback.SignToken([]byte("another key of thirty-two bytes!"), feedback.PurposeUnsubscribe, feedback.Target{CampaignID: 4, Row: 17}), form, oneClickBody, 404},
		{"empty", "/u/", form, oneClickBody, 404},
		{"wrong body", "/u/" + tok, form, "List-Unsubscribe=Yes", 400},
		{"no body", "/u/" + tok, form, "", 400},
		{"too large", "/u/" + tok, form, oneClickBody + "&x=" + strings.Repeat("a", 70<<10), 413},
	} {
		if code, _ := post(t, srv.URL+tc.path, tc.ctype, []byte(tc.body)); code != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, code, tc.want)
		}
	}
	if len(rec.events()) != 0 {
		t.Errorf("refused POSTs applied %+v", rec.events())
	}
	resp, _ := http.Get(srv.URL + "/u/" + forged)
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("GET forged: %d", resp.StatusCode)
	}
}

// A busy ledger: a write that fails is retried; one that keeps failing is
// answered 503 (never 200), and nothing is counted as done.
func TestOneClickBusyLedger(t *testing.T) {
	tok := feedback.SignToken(secret, feedback.PurposeUnsubscribe, feedback.Target{CampaignID: 1, Row: 2})
	rec := &recorder{fails: 2}
	srv := serve(t, listen.Config{Secret: secret}, rec)
	if code, _ := post(t, srv.URL+"/u/"+tok, "application/x-www-form-urlencoded", []byte(oneClickBody)); code != 200 || len(rec.events()) != 1 {
		t.Errorf("after two busy tries: %d, %d events", code, len(rec.events()))
	}
	rec = &recorder{fails: 1000}
	srv = serve(t, listen.Config{Secret: secret}, rec)
	if code, _ := post(t, srv.URL+"/u/"+tok, "application/x-www-form-urlencoded", []byte(oneClickBody)); code != 503 {
		t.Errorf("always busy: %d, want 503", code)
	}
	// No Applier at all (the ledger cannot be read): 503 too, and the
	// server keeps trying to make one.
	made := 0
	h := listen.New(listen.Config{Secret: secret, NewApplier: func(context.Context) (listen.Applier, error) {
		made++
		return nil, errors.New("no ledger")
	}})
	srv2 := httptest.NewServer(h)
	defer srv2.Close()
	for i := 0; i < 2; i++ {
		if code, _ := post(t, srv2.URL+"/u/"+tok, "application/x-www-form-urlencoded", []byte(oneClickBody)); code != 503 {
			t.Errorf("no applier: %d", code)
		}
	}
	if made < 2 {
		t.Errorf("NewApplier called %d times, want a retry per request", made)
	}
}

const sesBounce = `{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bounceSubType":"General","feedbackId":"fb-1","timestamp":"2025-01-02T03:04:05Z",
"bouncedRecipients":[{"emailAddress":"user1@example.com","status":"5.1.1","action":"failed","diagnosticCode":"smtp; 550 5.1.1 no such user"}]},
"mail":{"messageId":"ses-own-id","headers":[{"name":"Message-ID","value":"<abc.1@example.com>"}],"commonHeaders":{"messageId":"<abc.1@example.com>"}}}`

func TestSES(t *testing.T) {
	sns := listentest.NewSNS(t)
	rec := &recorder{}
	srv := serve(t, listen.Config{SNSCertHosts: []string{sns.Host()}, Client: sns.Server.Client()}, rec)
	u := srv.URL + "/webhooks/ses"
	for _, v := range []string{"1", "2"} {
		m := sns.Notification("arn:aws:sns:us-east-1:1:topic", strings.Replace(sesBounce, "fb-1", "fb-"+v, 1), v)
		if code, body := post(t, u, "text/plain", m.JSON()); code != 200 {
			t.Fatalf("SignatureVersion %s: %d %s", v, code, body)
		}
	}
	evs := rec.events()
	if len(evs) != 2 || evs[0].MessageID != "abc.1@example.com" || evs[0].Address != "user1@example.com" || evs[0].Kind != feedback.HardBounce {
		t.Fatalf("events %+v", evs)
	}
	if sns.CertGets() != 1 {
		t.Errorf("certificate fetched %d times, want once (cached)", sns.CertGets())
	}
	sub := sns.SubscriptionConfirmation("arn:aws:sns:us-east-1:1:topic")
	if code, _ := post(t, u, "text/plain", sub.JSON()); code != 200 || sns.Subscribed() != 1 {
		t.Errorf("subscription: %d, subscribed %d", code, sns.Subscribed())
	}
}

func TestSESRefused(t *testing.T) {
	sns := listentest.NewSNS(t)
	other := listentest.NewSNS(t) // signs with another key
	rec := &recorder{}
	srv := serve(t, listen.Config{SNSCertHosts: []string{sns.Host(), "sns.*.amazonaws.com"}, SNSTopicARNs: []string{"arn:good"}, Client: sns.Server.Client()}, rec)
	u := srv.URL + "/webhooks/ses"
	altered := sns.Notification("arn:good", sesBounce, "2")
	altered.Message = strings.Replace(altered.Message, "user1", "user2", 1)
	wrongKey := other.Notification("arn:good", sesBounce, "2")
	wrongKey.SigningCertURL = sns.Server.URL + "/cert.pem"
	badHost := sns.Notification("arn:good", sesBounce, "2")
	badHost.SigningCertURL = "https://sns.evil.example/cert.pem"
	plainHTTP := sns.Notification("arn:good", sesBounce, "2")
	plainHTTP.SigningCertURL = "http://sns.us-east-1.amazonaws.com/cert.pem" // https only, but for a listed loopback host
	redirect := sns.Notification("arn:good", sesBounce, "2")
	redirect.SigningCertURL = sns.Server.URL + "/elsewhere"
	v3 := sns.Notification("arn:good", sesBounce, "3")
	topic := sns.Notification("arn:other", sesBounce, "2")
	subBad := sns.SubscriptionConfirmation("arn:good")
	subBad.SubscribeURL = "https://sns.evil.example/subscribe"
	sns.Sign(&subBad, "1")
	for name, m := range map[string]listentest.Message{"altered": altered, "wrong key": wrongKey, "cert host": badHost,
		"http cert": plainHTTP, "version 3": v3, "topic": topic} {
		if code, _ := post(t, u, "text/plain", m.JSON()); code != 403 {
			t.Errorf("%s: %d, want 403", name, code)
		}
	}
	// A certificate that cannot be fetched just now: 503, so SNS retries.
	// A redirect is not followed, so it is such a failure too.
	missing := sns.Notification("arn:good", sesBounce, "2")
	missing.SigningCertURL = sns.Server.URL + "/missing.pem"
	for name, m := range map[string]listentest.Message{"missing": missing, "redirect": redirect} {
		if code, _ := post(t, u, "text/plain", m.JSON()); code != 503 {
			t.Errorf("certificate %s: %d, want 503", name, code)
		}
	}
	if code, _ := post(t, u, "text/plain", subBad.JSON()); code == 200 || sns.Subscribed() != 0 {
		t.Errorf("SubscribeURL elsewhere: %d, subscribed %d", code, sns.Subscribed())
	}
	if code, _ := post(t, u, "text/plain", []byte(sesBounce)); code != 400 {
		t.Errorf("bare SES JSON posted: %d, want 400", code)
	}
	if len(rec.events()) != 0 {
		t.Errorf("refused messages applied %+v", rec.events())
	}
	// Not configured: 404.
	srv2 := serve(t, listen.Config{}, rec)
	if code, _ := post(t, srv2.URL+"/webhooks/ses", "text/plain", altered.JSON()); code != 404 {
		t.Errorf("unconfigured SES: %d", code)
	}
}

const sgBody = `[{"email":"user1@example.com","timestamp":1700000000,"smtp-id":"<abc.1@example.com>","event":"bounce","type":"bounce","reason":"550 5.1.1 unknown","status":"5.1.1","sg_event_id":"ev1"},
{"email":"user1@example.com","timestamp":1700000000,"smtp-id":"<abc.1@example.com>","event":"delivered","sg_event_id":"ev0"}]`

func TestSendGrid(t *testing.T) {
	k := listentest.NewSendGridKey(t)
	pub, err := listen.ParseSendGridKey([]byte(k.Public + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	srv := serve(t, listen.Config{SendGridKey: pub}, rec)
	u := srv.URL + "/webhooks/sendgrid"
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	hdr := func(sig, ts string) []string {
		return []string{"X-Twilio-Email-Event-Webhook-Signature", sig, "X-Twilio-Email-Event-Webhook-Timestamp", ts}
	}
	if code, body := post(t, u, "application/json", []byte(sgBody), hdr(k.Sign(ts, []byte(sgBody)), ts)...); code != 200 {
		t.Fatalf("signed: %d %s", code, body)
	}
	if evs := rec.events(); len(evs) != 1 || evs[0].Key != "sendgrid:ev1" || evs[0].MessageID != "abc.1@example.com" {
		t.Fatalf("events %+v", evs)
	}
	other := listentest.NewSendGridKey(t)
	altered := strings.Replace(sgBody, "user1", "user2", 1)
	for name, h := range map[string][]string{
		"altered body":  hdr(k.Sign(ts, []byte(sgBody)), ts),
		"other ts":      hdr(k.Sign(ts, []byte(altered)), ts+"1"),
		"other key":     hdr(other.Sign(ts, []byte(altered)), ts),
		"no signature":  nil,
		"garbage":       hdr("!!", ts),
		"no timestamp ": hdr(k.Sign("", []byte(altered)), ""),
	} {
		if code, _ := post(t, u, "application/json", []byte(altered), h...); code != 403 {
			t.Errorf("%s: %d, want 403", name, code)
		}
	}
	if len(rec.events()) != 1 {
		t.Errorf("refused bodies applied: %+v", rec.events())
	}
	big := append([]byte("["), bytes.Repeat([]byte(" "), 2<<20)...)
	if code, _ := post(t, u, "application/json", big, hdr(k.Sign(ts, big), ts)...); code != 413 {
		t.Errorf("2 MiB body: %d, want 413", code)
	}
}

func TestMailgun(t *testing.T) {
	key := []byte("key-0123456789abcdef")
	rec := &recorder{}
	now := time.Now()
	srv := serve(t, listen.Config{MailgunKey: key, Now: func() time.Time { return now }}, rec)
	u := srv.URL + "/webhooks/mailgun"
	ev := func(id string) string {
		return fmt.Sprintf(`{"event":"failed","severity":"permanent","id":%q,"timestamp":%d,"recipient":"user1@example.com",
"message":{"headers":{"message-id":"abc.1@example.com"}},"delivery-status":{"code":550,"message":"550 5.1.1 no such user"}}`, id, now.Unix())
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	good := listentest.MailgunBody(key, ts, "token-1", ev("e1"))
	if code, body := post(t, u, "application/json", good); code != 200 {
		t.Fatalf("signed: %d %s", code, body)
	}
	if evs := rec.events(); len(evs) != 1 || evs[0].Key != "mailgun:e1" || evs[0].Status != "5.1.1" {
		t.Fatalf("events %+v", evs)
	}
	stale := strconv.FormatInt(now.Add(-6*time.Minute).Unix(), 10)
	for name, body := range map[string][]byte{
		"reused token": listentest.MailgunBody(key, ts, "token-1", ev("e2")),
		"stale":        listentest.MailgunBody(key, stale, "token-2", ev("e3")),
		"future":       listentest.MailgunBody(key, strconv.FormatInt(now.Add(6*time.Minute).Unix(), 10), "token-3", ev("e4")),
		"other key":    listentest.MailgunBody([]byte("key-other"), ts, "token-4", ev("e5")),
		"altered":      bytes.Replace(listentest.MailgunBody(key, ts, "token-5", ev("e6")), []byte("token-5"), []byte("token-6"), 1),
	} {
		if code, _ := post(t, u, "application/json", body); code != 403 {
			t.Errorf("%s: %d, want 403", name, code)
		}
	}
	if len(rec.events()) != 1 {
		t.Errorf("refused bodies applied: %+v", rec.events())
	}
	// A 503 does not burn the token: Mailgun's retry of the same body
	// goes through.
	rec.mu.Lock()
	rec.fails = 1000
	rec.mu.Unlock()
	retry := listentest.MailgunBody(key, ts, "token-7", ev("e7"))
	if code, _ := post(t, u, "application/json", retry); code != 503 {
		t.Fatalf("busy: %d", code)
	}
	rec.mu.Lock()
	rec.fails = 0
	rec.mu.Unlock()
	if code, _ := post(t, u, "application/json", retry); code != 200 {
		t.Errorf("retry after 503: %d", code)
	}
}

func TestNotConfigured(t *testing.T) {
	srv := serve(t, listen.Config{}, &recorder{})
	for _, p := range []string{"/u/abc", "/webhooks/sendgrid", "/webhooks/mailgun", "/webhooks/ses", "/webhooks/postmark", "/"} {
		if code, _ := post(t, srv.URL+p, "text/plain", []byte("{}")); code != 404 && code != 405 {
			t.Errorf("%s: %d", p, code)
		}
	}
}
