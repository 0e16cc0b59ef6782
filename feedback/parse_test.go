package feedback

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// want is the part of an Event a test data file pins down.
type want struct {
	Kind                                      Kind
	Address, Status, Token, MessageID, Source string
}

// got writes the tokens as VERP|envid=ENVID when the report has an ENVID.
func got(ev Event) want {
	tok := ev.Token
	if ev.EnvID != "" {
		tok += "|envid=" + ev.EnvID
	}
	return want{ev.Kind, ev.Address, ev.Status, tok, ev.MessageID, ev.Source}
}

var parseCases = []struct {
	file   string
	class  Class
	events []want
}{
	{"postfix-hard.eml", ClassDSN, []want{
		{HardBounce, "gone1@example.net", "5.1.1", "TOKENX", "bouncer-test-0-1796186535278370553@mailblast.test", "dsn"},
	}},
	{"postfix-two-blocks-headers.eml", ClassDSN, []want{
		{HardBounce, "gone3@example.net", "5.1.1", "OTHER|envid=ENV+TOKEN", "bouncer-test-9-1796186566414049847@mailblast.test", "dsn"},
		{HardBounce, "gone4@example.net", "5.1.1", "OTHER|envid=ENV+TOKEN", "bouncer-test-9-1796186566414049847@mailblast.test", "dsn"},
	}},
	{"postfix-failed-4xx.eml", ClassDSN, []want{
		{SoftBounce, "later1@example.net", "4.3.0", "OTHER|envid=ENV+TOKEN", "bouncer-test-9-1796186566414049847@mailblast.test", "dsn"},
	}},
	{"dsn-rfc3464-simple.eml", ClassDSN, []want{
		{SoftBounce, "louisl@larry.slip.umd.edu", "4.0.0", "", "", "dsn"},
	}},
	{"dsn-rfc3464-multi.eml", ClassDSN, []want{
		{HardBounce, "arathib@vnet.ibm.com", "5.0.0", "", "", "dsn"},
		{Delayed, "johnh@hpnjld.njd.hp.com", "4.0.0", "", "", "dsn"},
		{HardBounce, "wsnell@sdcc13.ucsd.edu", "5.0.0", "", "", "dsn"},
	}},
	{"dsn-three-blocks.eml", ClassDSN, []want{
		{HardBounce, "alice@example.org", "5.1.1", "abc234tok", "row-1.campaign-3@example.com", "dsn"},
		{SoftBounce, "bob@example.org", "4.2.2", "abc234tok", "row-1.campaign-3@example.com", "dsn"},
		{Delayed, "Carol.Original@example.org", "4.4.1", "abc234tok", "row-1.campaign-3@example.com", "dsn"},
	}},
	{"dsn-rfc6533-global.eml", ClassDSN, []want{
		{HardBounce, "用户@例子.广告", "5.1.1", "gl0bal", "row-9.campaign-3@example.com", "dsn"},
	}},
	{"dsn-no-original.eml", ClassDSN, []want{
		{HardBounce, "dave@example.org", "5.2.1", "n0orig", "", "dsn"},
	}},
	{"arf-rfc5965.eml", ClassARF, []want{
		{Complaint, "user@example.com", "", "", "8787KJKJ3K4J3K4J3K4J3.mail@example.net", "arf"},
	}},
	{"arf-rfc6650-redacted.eml", ClassARF, []want{
		{Complaint, "", "", "rpt0ken", "row-42.campaign-7@example.com", "arf"},
	}},
	{"auto-reply-rfc3834.eml", ClassAutoReply, nil},
	{"auto-reply-outlook.eml", ClassAutoReply, nil},
	{"auto-reply-precedence.eml", ClassAutoReply, nil},
	{"person-reply-quoting-bounce.eml", ClassOther, nil},
	{"person-forwards-bounce.eml", ClassOther, nil},
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseTestdata(t *testing.T) {
	for _, c := range parseCases {
		t.Run(c.file, func(t *testing.T) {
			data := readTestdata(t, c.file)
			// As stored (LF) and as on the wire (CRLF): the same report.
			crlf := bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n"))
			for _, raw := range [][]byte{data, crlf} {
				rep, err := Parse(bytes.NewReader(raw))
				if err != nil || rep.Class != c.class {
					t.Fatalf("class %q, err %v; want %q", rep.Class, err, c.class)
				}
				if len(rep.Events) != len(c.events) {
					t.Fatalf("%d events, want %d: %+v", len(rep.Events), len(c.events), rep.Events)
				}
				for i, ev := range rep.Events {
					if got(ev) != c.events[i] {
						t.Errorf("event %d:\n got %+v\nwant %+v", i, got(ev), c.events[i])
					}
				}
			}
		})
	}
}

// The same file parsed twice gives the same Keys, distinct per block; a
// different report gives different ones.
func TestParseKeysStable(t *testing.T) {
	data := readTestdata(t, "dsn-three-blocks.eml")
	a, _ := Parse(bytes.NewReader(data))
	b, _ := Parse(bytes.NewReader(data))
	seen := map[string]bool{}
	for i := range a.Events {
		if a.Events[i].Key != b.Events[i].Key || !strings.HasPrefix(a.Events[i].Key, "dsn:") {
			t.Errorf("key %d: %q then %q", i, a.Events[i].Key, b.Events[i].Key)
		}
		seen[a.Events[i].Key] = true
	}
	if len(seen) != 3 {
		t.Errorf("keys %v, want 3 distinct", seen)
	}
	// Without a Message-ID the key is the bytes' hash: still stable.
	noID, _ := Parse(bytes.NewReader(readTestdata(t, "dsn-no-original.eml")))
	again, _ := Parse(bytes.NewReader(readTestdata(t, "dsn-no-original.eml")))
	if noID.Events[0].Key != again.Events[0].Key || seen[noID.Events[0].Key] {
		t.Errorf("key without Message-ID: %q, %q", noID.Events[0].Key, again.Events[0].Key)
	}
	arf, _ := Parse(bytes.NewReader(readTestdata(t, "arf-rfc5965.eml")))
	if !strings.HasPrefix(arf.Events[0].Key, "arf:") {
		t.Errorf("ARF key %q", arf.Events[0].Key)
	}
	// The same report delivered to another mailbox (other Delivered-To and
	// Received fields) is the same report: same Keys.
	moved := append([]byte("Delivered-To: other@example.com\nReceived: by elsewhere.example\n"), data...)
	if c, _ := Parse(bytes.NewReader(moved)); c.Events[0].Key != a.Events[0].Key {
		t.Errorf("key after redelivery %q, was %q", c.Events[0].Key, a.Events[0].Key)
	}
	// A forged report that reuses a genuine report's Message-ID but says
	// something else does not take its Keys.
	forged := bytes.Replace(data, []byte("Status: 5.1.1"), []byte("Status: 5.1.2"), 1)
	if f, _ := Parse(bytes.NewReader(forged)); f.Events[0].Key == a.Events[0].Key {
		t.Errorf("forged report with the same Message-ID has the same key %q", f.Events[0].Key)
	}
}

func TestParseDates(t *testing.T) {
	rep, _ := Parse(bytes.NewReader(readTestdata(t, "dsn-three-blocks.eml")))
	at := func(s string) time.Time { tm, _ := time.Parse(time.RFC1123Z, s); return tm }
	// Last-Attempt-Date, else the per-message Arrival-Date.
	wants := []time.Time{at("Tue, 01 Dec 2026 12:00:01 +0000"), at("Tue, 01 Dec 2026 11:59:58 +0000"), at("Tue, 01 Dec 2026 11:59:58 +0000")}
	for i, ev := range rep.Events {
		if !ev.At.Equal(wants[i]) {
			t.Errorf("event %d at %v, want %v", i, ev.At, wants[i])
		}
	}
	// No Arrival-Date: the report's Date.
	rep, _ = Parse(bytes.NewReader(readTestdata(t, "dsn-no-original.eml")))
	if want := at("Tue, 01 Dec 2026 13:00:00 +0000"); !rep.Events[0].At.Equal(want) {
		t.Errorf("at %v, want the report's Date %v", rep.Events[0].At, want)
	}
}

func TestParseDiagnostic(t *testing.T) {
	rep, _ := Parse(bytes.NewReader(readTestdata(t, "dsn-three-blocks.eml")))
	want := "smtp; 550 5.1.1 <alice@example.org>: Recipient address rejected: User unknown in virtual mailbox table"
	if d := rep.Events[0].Diagnostic; d != want {
		t.Errorf("diagnostic %q, want the unfolded %q", d, want)
	}
	// A long diagnostic is cut at 1,000 bytes, and control characters
	// (terminal escapes) become spaces.
	long := dsnWith("Action: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; \x1b[31m" + strings.Repeat("é", 2000) + "\n")
	rep, err := Parse(strings.NewReader(long))
	if err != nil || len(rep.Events) != 1 {
		t.Fatalf("%+v, %v", rep, err)
	}
	d := rep.Events[0].Diagnostic
	if len(d) > 1000 || strings.ContainsRune(d, 0x1b) || !strings.HasPrefix(d, "smtp;  [31m") {
		t.Errorf("diagnostic of %d bytes: %.40q", len(d), d)
	}
}

// dsnWith is a minimal DSN whose one per-recipient block is block.
func dsnWith(block string) string {
	return "From: MAILER-DAEMON@example.org\nTo: Someone <someone@example.org>, bounces+tok@example.com\n" +
		"Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n" +
		"--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; example.org\n\n" +
		"Final-Recipient: rfc822; x@example.org\n" + block + "\n--b--\n"
}

func TestParseDSNActions(t *testing.T) {
	cases := []struct {
		block  string
		kind   Kind
		status string
	}{
		{"Action: failed\nStatus: 5.1.1\n", HardBounce, "5.1.1"},
		{"Action: FAILED\nStatus: 4.2.2 (mailbox full)\n", SoftBounce, "4.2.2"},
		{"Action: delayed\nStatus: 4.4.7\n", Delayed, "4.4.7"},
		{"Action: failed\nDiagnostic-Code: smtp; 550 5.7.1 blocked\n", HardBounce, "5.7.1"},
		{"Action: failed\nStatus: bogus\nDiagnostic-Code: smtp; 452 too many\n", SoftBounce, ""},
		{"Action: failed\n", HardBounce, ""},
		{"Action: delivered\nStatus: 2.0.0\n", "", ""},
		{"Action: relayed\nStatus: 2.0.0\n", "", ""},
		{"Action: expanded\nStatus: 2.0.0\n", "", ""},
		{"Action: whatever\nStatus: 5.1.1\n", "", ""},
	}
	for _, c := range cases {
		rep, err := Parse(strings.NewReader(dsnWith(c.block)))
		if err != nil || rep.Class != ClassDSN {
			t.Fatalf("%q: %+v, %v", c.block, rep, err)
		}
		if c.kind == "" {
			if len(rep.Events) != 0 {
				t.Errorf("%q: %+v, want no event", c.block, rep.Events)
			}
			continue
		}
		if len(rep.Events) != 1 || rep.Events[0].Kind != c.kind || rep.Events[0].Status != c.status {
			t.Errorf("%q: %+v, want %s %q", c.block, rep.Events, c.kind, c.status)
		}
	}
}

func TestParseTokens(t *testing.T) {
	cases := []struct{ header, perMessage, token, envID string }{
		{"Delivered-To: bounces+deliv@example.com\n", "", "deliv", ""},
		{"X-Original-To: bounces+xorig@example.com\n", "", "xorig", ""},
		{"", "", "tok", ""}, // the To of dsnWith
		{"Delivered-To: bounces+deliv@example.com\n", "Original-Envelope-Id: env+2Bid+3Dx\n", "deliv", "env+id=x"},
		{"Delivered-To: <bounces+a+b@example.com>\n", "", "a+b", ""},
		{"Delivered-To: <bounces+a+b@example.com>\n", "Original-Envelope-Id: ENV+TOKEN+2b\n", "a+b", "ENV+TOKEN+2b"},
		{"X-Original-To: news@example.com\n", "", "tok", ""},
	}
	for _, c := range cases {
		msg := c.header + strings.Replace(dsnWith("Action: failed\nStatus: 5.1.1\n"), "Reporting-MTA: dns; example.org\n", "Reporting-MTA: dns; example.org\n"+c.perMessage, 1)
		rep, err := Parse(strings.NewReader(msg))
		if err != nil || len(rep.Events) != 1 || rep.Events[0].Token != c.token || rep.Events[0].EnvID != c.envID {
			t.Errorf("%q %q: %+v, %v; want token %q, ENVID %q", c.header, c.perMessage, rep.Events, err, c.token, c.envID)
		}
	}
}

func TestParseARFTypes(t *testing.T) {
	data := string(readTestdata(t, "arf-rfc5965.eml"))
	for typ, complaint := range map[string]bool{"abuse": true, "fraud": true, "virus": true, "not-spam": false, "auth-failure": false, "other": false} {
		rep, err := Parse(strings.NewReader(strings.Replace(data, "Feedback-Type: abuse", "Feedback-Type: "+typ, 1)))
		if err != nil || rep.Class != ClassARF || (len(rep.Events) == 1) != complaint {
			t.Errorf("%s: %+v, %v; complaint %v", typ, rep, err, complaint)
		}
	}
	// Without a Return-Path in the returned headers, Original-Mail-From.
	redacted := string(readTestdata(t, "arf-rfc6650-redacted.eml"))
	rep, _ := Parse(strings.NewReader(strings.Replace(redacted, "Return-Path: <bounces+rpt0ken@example.com>\n", "", 1)))
	if len(rep.Events) != 1 || rep.Events[0].Token != "fblt0ken" {
		t.Errorf("%+v, want token fblt0ken from Original-Mail-From", rep.Events)
	}
}

func TestParseRedacted(t *testing.T) {
	for in, want := range map[string]string{
		"<user@example.com>":          "user@example.com",
		"xxxxxxxx@example.com":        "",
		"<XXXX@example.com>":          "",
		"redacted@example.com":        "",
		"[redacted]":                  "",
		"user-redacted-5@example.com": "",
		"":                            "",
	} {
		if got := unredacted(in); got != want {
			t.Errorf("unredacted(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseUnreadable(t *testing.T) {
	for name, in := range map[string]string{
		"empty":          "",
		"blank":          "\r\n\r\n  \n",
		"binary":         "\x00\x01\x02\xff\xfe binary \x00 junk",
		"not a header":   "hello world, this is not a message\n",
		"no boundary":    "Content-Type: multipart/report; report-type=delivery-status\n\nbody\n",
		"no report part": "Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\nContent-Type: text/plain\n\nhi\n--b--\n",
		"broken parts":   "Content-Type: multipart/report; report-type=feedback-report; boundary=b\n\nno parts here\n",
	} {
		rep, err := Parse(strings.NewReader(in))
		if rep.Class != ClassUnreadable || !errors.Is(err, ErrUnreadable) {
			t.Errorf("%s: %+v, %v; want unreadable", name, rep, err)
		}
	}
}

// Auto-Submitted on a DSN (Postfix and most bounce daemons set it) does
// not make it an auto-reply; Auto-Submitted: no is no auto-reply.
func TestParseAutoSubmitted(t *testing.T) {
	rep, _ := Parse(bytes.NewReader(readTestdata(t, "postfix-hard.eml")))
	if rep.Class != ClassDSN {
		t.Errorf("Postfix DSN with Auto-Submitted: auto-replied is %q", rep.Class)
	}
	rep, _ = Parse(strings.NewReader("From: a@example.org\nAuto-Submitted: no\nSubject: hi\n\nhello\n"))
	if rep.Class != ClassOther {
		t.Errorf("Auto-Submitted: no is %q", rep.Class)
	}
	// A read receipt (RFC 8098 MDN) is an automatic answer, no report.
	mdn := "From: a@example.org\nContent-Type: multipart/report; report-type=disposition-notification; boundary=b\n\n" +
		"--b\nContent-Type: message/disposition-notification\n\nFinal-Recipient: rfc822; a@example.org\nDisposition: automatic-action/MDN-sent-automatically; displayed\n--b--\n"
	if rep, err := Parse(strings.NewReader(mdn)); err != nil || rep.Class != ClassAutoReply {
		t.Errorf("MDN: %+v, %v", rep, err)
	}
}

// A base64-encoded delivery-status part (some Exchange versions) and a
// quoted-printable one read the same as a plain one.
func TestParseEncodedStatusPart(t *testing.T) {
	b64 := "From: x@example.org\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\n\n" +
		"--b\nContent-Type: message/delivery-status\nContent-Transfer-Encoding: base64\n\n" +
		"UmVwb3J0aW5nLU1UQTogZG5zOyBleGFtcGxlLm9yZwoKRmluYWwtUmVjaXBpZW50OiByZmM4MjI7\nIHlAZXhhbXBsZS5vcmcKQWN0aW9uOiBmYWlsZWQKU3RhdHVzOiA1LjEuMQo=\n--b--\n"
	rep, err := Parse(strings.NewReader(b64))
	if err != nil || len(rep.Events) != 1 || rep.Events[0].Address != "y@example.org" || rep.Events[0].Status != "5.1.1" {
		t.Errorf("base64: %+v, %v", rep, err)
	}
}

// A message saved with its mbox postmark ("From sender date", as one
// message cut from an mbox, or a Thunderbird .eml) parses the same.
func TestParseMboxPostmark(t *testing.T) {
	data := readTestdata(t, "postfix-hard.eml")
	for _, mark := range []string{"From MAILER-DAEMON Wed Dec  2 04:41:49 2026\n", "From - Wed Dec  2 04:41:49 2026\r\n", "From MAILER-DAEMON\n"} {
		rep, err := Parse(bytes.NewReader(append([]byte(mark), data...)))
		if err != nil || rep.Class != ClassDSN || len(rep.Events) != 1 {
			t.Errorf("%q: %+v, %v", mark, rep, err)
		}
	}
}
