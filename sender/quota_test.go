package sender_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailblast/mailblast/sender"
	"github.com/mailblast/mailblast/sender/sendertest"
)

func TestParseQuota(t *testing.T) {
	for in, want := range map[string]sender.Quota{
		"2000/24h": {2000, 24 * time.Hour}, "500/1h": {500, time.Hour}, "10000 / 7d": {10000, 7 * 24 * time.Hour},
		"90/90m": {90, 90 * time.Minute}, "300/h": {300, time.Hour}, "5/d": {5, 24 * time.Hour}, "": {},
	} {
		got, err := sender.ParseQuota(in)
		if err != nil || got != want {
			t.Errorf("ParseQuota(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"2000", "2000/", "/24h", "0/1h", "-5/1h", "10/30s", "10/abc", "ten/1h", "10/1x"} {
		if q, err := sender.ParseQuota(in); err == nil || !strings.Contains(err.Error(), "like 2000/24h") {
			t.Errorf("ParseQuota(%q) = %+v, %v; want an error showing the form", in, q, err)
		}
	}
}

// A quota is stored as it is written, and read back the same.
func TestQuotaStoredAsWritten(t *testing.T) {
	for in, want := range map[string]string{"2000/24h": "2000/24h", "500/1h": "500/1h", "10000/7d": "10000/7d",
		"90/90m": "90/1h30m", "10/48h": "10/2d"} {
		q, _ := sender.ParseQuota(in)
		s := sender.DefaultSettings()
		s.Quota = q
		b, err := json.Marshal(s)
		if err != nil || !strings.Contains(string(b), `"quota":"`+want+`"`) {
			t.Errorf("%s stored as %s, %v; want %q", in, b, err, want)
		}
		var back sender.Settings
		if err := json.Unmarshal(b, &back); err != nil || back.Quota != q {
			t.Errorf("%s read back as %+v, %v", in, back.Quota, err)
		}
	}
	b, _ := json.Marshal(sender.DefaultSettings())
	if strings.Contains(string(b), "quota") || strings.Contains(string(b), "warmup") {
		t.Errorf("no quota stored as %s", b)
	}
}

func TestWarmupDays(t *testing.T) {
	w := &sender.Warmup{Start: "2026-12-01", Daily: []int{200, 500, 1000}}
	for _, c := range []struct {
		at             string
		day, allowance int
	}{
		{"2026-11-30T23:59:59Z", 0, 200}, {"2026-12-01T00:00:00Z", 1, 200}, {"2026-12-01T23:59:59Z", 1, 200},
		{"2026-12-02T10:00:00Z", 2, 500}, {"2026-12-03T10:00:00Z", 3, 1000}, {"2027-01-01T10:00:00Z", 32, 1000},
		{"2026-12-02T01:00:00+03:00", 1, 200}, // 2026-12-01 22:00 UTC: days are UTC days
	} {
		at, _ := time.Parse(time.RFC3339, c.at)
		start, day, allowance := w.Day(at)
		if day != c.day || allowance != c.allowance || !start.Equal(at.UTC().Truncate(24*time.Hour)) {
			t.Errorf("%s: day %d allowance %d from %s; want day %d allowance %d", c.at, day, allowance, start, c.day, c.allowance)
		}
	}
	for _, bad := range []sender.Warmup{{Start: "12/01/2026", Daily: []int{1}}, {Start: "2026-12-01"}, {Start: "2026-12-01", Daily: []int{5, 0}}} {
		if err := bad.CheckKey("smtp.warmup"); err == nil || !strings.HasPrefix(err.Error(), "smtp.warmup.") {
			t.Errorf("%+v: %v; want an error naming the key", bad, err)
		}
	}
}

// fixed is an Allowance of n messages: what the relay did not accept is
// given back.
type fixed struct {
	mu   sync.Mutex
	left int
}

func (f *fixed) Take() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.left == 0 {
		return false
	}
	f.left--
	return true
}

func (f *fixed) Return() {
	f.mu.Lock()
	f.left++
	f.mu.Unlock()
}

// limitedSend sends n messages through pools, relay name to allowance.
func limitedSend(t *testing.T, pools []*sender.Pool, limit map[string]*fixed, n int) (map[int]sender.Result, error) {
	t.Helper()
	in := make(chan *sender.Envelope, n)
	for i := range n {
		in <- &sender.Envelope{ID: i, From: "news@example.com", To: fmt.Sprintf("r%d@example.com", i),
			Data: []byte(fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i))}
	}
	close(in)
	g := sender.NewGroup(pools...)
	g.Limit(func(name string) sender.Allowance {
		if a := limit[name]; a != nil {
			return a
		}
		return nil
	})
	var mu sync.Mutex
	res := map[int]sender.Result{}
	ctx := context.Background()
	err := g.Run(ctx, ctx, in, func(r sender.Result) {
		mu.Lock()
		defer mu.Unlock()
		if _, dup := res[r.Env.ID]; dup {
			t.Errorf("envelope %d reported twice", r.Env.ID)
		}
		res[r.Env.ID] = r
	})
	return res, err
}

// TestQuotaSpills: a relay out of room hands its messages to one that has
// room; nobody is lost or sent twice.
func TestQuotaSpills(t *testing.T) {
	a := sendertest.NewServer(t, sendertest.Options{})
	b := sendertest.NewServer(t, sendertest.Options{})
	res, err := limitedSend(t, []*sender.Pool{pool(t, a, "a", 1), pool(t, b, "b", 1)}, map[string]*fixed{"a": {left: 7}}, 60)
	if err != nil {
		t.Fatal(err)
	}
	allSent(t, res, 60)
	if a.Count() != 7 || b.Count() != 53 {
		t.Fatalf("a %d, b %d; want 7 and 53", a.Count(), b.Count())
	}
}

// TestQuotaAllFull: when every relay is out of room the run ends with
// ErrQuota; nothing beyond the allowances is sent, and what was taken and
// not sent is released, never failed.
func TestQuotaAllFull(t *testing.T) {
	a := sendertest.NewServer(t, sendertest.Options{})
	b := sendertest.NewServer(t, sendertest.Options{})
	res, err := limitedSend(t, []*sender.Pool{pool(t, a, "a", 1), pool(t, b, "b", 1)}, map[string]*fixed{"a": {left: 7}, "b": {left: 5}}, 60)
	if !errors.Is(err, sender.ErrQuota) {
		t.Fatalf("err %v, want ErrQuota", err)
	}
	sent := 0
	for id, r := range res {
		switch {
		case r.Err != nil:
			t.Errorf("envelope %d: %v", id, r.Err)
		case !r.Released:
			sent++
		}
	}
	if a.Count() != 7 || b.Count() != 5 || sent != 12 {
		t.Fatalf("a %d, b %d, reported sent %d; want 7, 5, 12", a.Count(), b.Count(), sent)
	}
}

// TestQuotaRoomGivenBack: a message the relay deferred does not use up
// room: the allowance counts accepted messages.
func TestQuotaRoomGivenBack(t *testing.T) {
	a := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{Data: func(rcpt []string, _ []byte) *smtp.SMTPError {
		if rcpt[0] == "r0@example.com" || rcpt[0] == "r1@example.com" || rcpt[0] == "r2@example.com" {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
		}
		return nil
	}}})
	res, err := limitedSend(t, []*sender.Pool{pool(t, a, "a", 1)}, map[string]*fixed{"a": {left: 5}}, 20)
	if !errors.Is(err, sender.ErrQuota) {
		t.Fatalf("err %v, want ErrQuota", err)
	}
	deferred := 0
	for _, r := range res {
		if r.Err != nil && !r.Err.Permanent {
			deferred++
		}
	}
	if a.Count() != 5 || deferred != 3 {
		t.Fatalf("accepted %d, deferred %d; want 5 and 3", a.Count(), deferred)
	}
}

// TestGroupRunsAgain: a group of relays runs once per pass of a campaign
// (a retry, or a wait for a quota's room). Every Run takes all it is
// given; the second took 17 of 200, since the end of the first had
// closed the group's "drained" signal for good and workers waiting for
// their share took it for the end of the second.
func TestGroupRunsAgain(t *testing.T) {
	a := sendertest.NewServer(t, sendertest.Options{})
	b := sendertest.NewServer(t, sendertest.Options{})
	g := sender.NewGroup(pool(t, a, "a", 1), pool(t, b, "b", 3))
	for run := 1; run <= 3; run++ {
		in := make(chan *sender.Envelope, 200)
		for i := range 200 {
			in <- &sender.Envelope{ID: i, From: "news@example.com", To: fmt.Sprintf("r%d@example.com", i), Data: []byte("Subject: x\r\n\r\nbody\r\n")}
		}
		close(in)
		ctx := context.Background()
		if err := g.Run(ctx, ctx, in, func(sender.Result) {}); err != nil {
			t.Fatal(err)
		}
		if len(in) > 0 || a.Count()+b.Count() != 200*run {
			t.Fatalf("run %d left %d untaken; relays have %d in all, want %d", run, len(in), a.Count()+b.Count(), 200*run)
		}
	}
}
