package feedback

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func providerSample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "providers", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type wantEvent struct {
	kind              Kind
	msgID, addr, stat string
	key               string
}

func TestParseProviderSamples(t *testing.T) {
	sg := "14c5d75ce93.dfd.64b469@ismtpd-555"
	tests := []struct {
		format, file string
		want         []wantEvent
	}{
		{"ses", "ses-bounce-sns.json", []wantEvent{{HardBounce, "5d1a2b3c4d5e6f708192a3b4.1@example.com", "jane@example.com", "5.1.1",
			"ses:00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa068a-000000:jane@example.com"}}},
		{"ses", "ses-complaint.json", []wantEvent{{Complaint, "0a1b2c3d4e5f60718293a4b5.3@example.com", "richard@example.com", "",
			"ses:000001378603177f-18c07c78-fa81-4a58-9dd1-fedc3cb8f49a-000000:richard@example.com"}}},
		{"ses", "ses-transient-event.json", []wantEvent{{SoftBounce, "99aa00bb11cc22dd33ee44ff.2@example.com", "recipient@example.com", "4.2.2",
			"ses:01000157c44f053b-61b59c11-9236-11e6-8f96-7be8aexample-000000:recipient@example.com"}}},
		{"ses", "ses-subscription-confirmation.json", nil},
		{"sendgrid", "sendgrid-events.json", []wantEvent{
			{HardBounce, sg, "example@test.com", "5.0.0", "sendgrid:sg_event_id_bounce"},
			{SoftBounce, sg, "example@test.com", "5.7.1", "sendgrid:sg_event_id_blocked"},
			{HardBounce, sg, "example@test.com", "5.0.0", "sendgrid:sg_event_id_dropped"},
			{Complaint, sg, "example@test.com", "", "sendgrid:sg_event_id_spamreport"},
			{Unsubscribe, sg, "example@test.com", "", "sendgrid:sg_event_id_unsubscribe"},
			{Unsubscribe, sg, "example@test.com", "", "sendgrid:sg_event_id_group_unsubscribe"},
		}},
		{"mailgun", "mailgun-failed-permanent.json", []wantEvent{{HardBounce, "20130503192659.13651.20287@sample.mailgun.org", "alice@example.com", "5.1.1", "mailgun:G9Bn5sl1TC6nu79C8C0bwg"}}},
		{"mailgun", "mailgun-failed-temporary.json", []wantEvent{{Delayed, "20130503192659.13651.20287@sample.mailgun.org", "alice@example.com", "4.2.2", "mailgun:Fs7-5t81S2ulRDhwUgfHVA"}}},
		{"mailgun", "mailgun-complained.json", []wantEvent{{Complaint, "20110215055645.25246.63817@sample.mailgun.org", "alice@example.com", "", "mailgun:-Agny091SquKnsrW2NEKUA"}}},
	}
	for _, tc := range tests {
		evs, err := ParseProvider(tc.format, providerSample(t, tc.file))
		if err != nil {
			t.Errorf("%s: %v", tc.file, err)
			continue
		}
		if len(evs) != len(tc.want) {
			t.Errorf("%s: %d events, want %d: %+v", tc.file, len(evs), len(tc.want), evs)
			continue
		}
		for i, w := range tc.want {
			e := evs[i]
			got := wantEvent{e.Kind, e.MessageID, e.Address, e.Status, e.Key}
			if got != w || e.Source != tc.format || e.At.IsZero() || e.Target != nil {
				t.Errorf("%s event %d: %+v (source %q, at %v), want %+v", tc.file, i, got, e.Source, e.At, w)
			}
		}
	}
}

// The bare SES notification inside the envelope gives the same events as
// the envelope: feedback import takes either.
func TestParseProviderSESBare(t *testing.T) {
	m, ok := ParseSNS(providerSample(t, "ses-bounce-sns.json"))
	if !ok {
		t.Fatal("ParseSNS: not an SNS message")
	}
	a, err1 := ParseProvider("ses", []byte(m.Message))
	b, err2 := ParseProvider("ses", providerSample(t, "ses-bounce-sns.json"))
	if err1 != nil || err2 != nil || len(a) != 1 || a[0] != b[0] {
		t.Errorf("bare %+v %v, enveloped %+v %v", a, err1, b, err2)
	}
}

func TestParseProviderRefuses(t *testing.T) {
	for _, tc := range []struct{ format, body string }{
		{"ses", ""}, {"ses", "{}"}, {"ses", "[1]"}, {"ses", `{"notificationType":"Bounce"} trailing`},
		{"sendgrid", "{"}, {"sendgrid", `[{"email":"a@b"}]`}, {"sendgrid", `"x"`},
		{"mailgun", `{"signature":{}}`}, {"mailgun", "\x00\xff"},
		{"postmark", "{}"},
	} {
		if _, err := ParseProvider(tc.format, []byte(tc.body)); !errors.Is(err, ErrProviderFormat) {
			t.Errorf("%s %q: error %v, want ErrProviderFormat", tc.format, tc.body, err)
		}
	}
}

// FuzzParseProvider: any body, any format, no panic; an error or events
// that each carry a kind and more of a key than the provider's name.
func FuzzParseProvider(f *testing.F) {
	for _, fm := range []struct{ format, file string }{
		{"ses", "ses-bounce-sns.json"}, {"ses", "ses-complaint.json"}, {"sendgrid", "sendgrid-events.json"},
		{"mailgun", "mailgun-failed-permanent.json"},
	} {
		b, err := os.ReadFile(filepath.Join("testdata", "providers", fm.file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(fm.format, b)
	}
	f.Fuzz(func(t *testing.T, format string, body []byte) {
		evs, err := ParseProvider(format, body)
		if err != nil {
			return
		}
		for _, e := range evs {
			if e.Kind == "" || e.Key == format+":" || e.Target != nil {
				t.Errorf("event %+v", e)
			}
		}
	})
}

// Two events without the provider's id are still two events: each key
// names the message, the recipient and the time.
func TestParseProviderKeysWithoutIDs(t *testing.T) {
	mg := func(ts string) string {
		return `{"signature":{},"event-data":{"event":"complained","timestamp":` + ts + `,"recipient":"a@example.com","message":{"headers":{"message-id":"m@x"}}}}`
	}
	a, _ := ParseProvider("mailgun", []byte(mg("1700000000")))
	b, _ := ParseProvider("mailgun", []byte(mg("1700000001")))
	if len(a) != 1 || len(b) != 1 || a[0].Key == b[0].Key || strings.HasSuffix(a[0].Key, ":") {
		t.Errorf("mailgun keys %+v %+v", a, b)
	}
	ses := func(ts string) string {
		return `{"notificationType":"Complaint","complaint":{"timestamp":"` + ts + `","complainedRecipients":[{"emailAddress":"a@example.com"}]},"mail":{"headers":[{"name":"Message-ID","value":"<m@x>"}]}}`
	}
	c, _ := ParseProvider("ses", []byte(ses("2025-01-01T00:00:00Z")))
	d, _ := ParseProvider("ses", []byte(ses("2025-01-02T00:00:00Z")))
	if len(c) != 1 || len(d) != 1 || c[0].Key == d[0].Key {
		t.Errorf("ses keys %+v %+v", c, d)
	}
}
