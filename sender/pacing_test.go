package sender_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailblast/mailblast/sender"
	"github.com/mailblast/mailblast/sender/sendertest"
)

func TestParseRate(t *testing.T) {
	for in, want := range map[string]float64{"": 0, "50/s": 50, "3000/m": 50, "180000/h": 50, "7": 7, "1.5/sec": 1.5} {
		got, err := sender.ParseRate(in)
		if err != nil || got != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"fast", "5/d", "-3/s", "/s"} {
		if _, err := sender.ParseRate(bad); err == nil {
			t.Errorf("ParseRate(%q) accepted", bad)
		}
	}
}

// arrivals records when each message reached a server.
type arrivals struct {
	mu sync.Mutex
	at []time.Time
}

func (a *arrivals) hook(fault func(n int) *smtp.SMTPError) func([]string, []byte) *smtp.SMTPError {
	return func([]string, []byte) *smtp.SMTPError {
		a.mu.Lock()
		defer a.mu.Unlock()
		if fault != nil {
			if e := fault(len(a.at)); e != nil {
				a.at = append(a.at, time.Time{}) // counted, not accepted
				return e
			}
		}
		a.at = append(a.at, time.Now())
		return nil
	}
}

func (a *arrivals) accepted() []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []time.Time
	for _, t := range a.at {
		if !t.IsZero() {
			out = append(out, t)
		}
	}
	return out
}

// TestRateLimit: messages reach the server no faster than the rate and
// never in bursts above the burst. A busy machine can only make the run
// slower, so the lower bound is loose; the benchmark measures it closely.
func TestRateLimit(t *testing.T) {
	var a arrivals
	s := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{Data: a.hook(nil)}})
	cfg := config(s, sender.NoTLS)
	cfg.Rate, cfg.Burst, cfg.Connections = 40, 2, 4
	const n = 60
	if _, err := sendAll(t, cfg, n); err != nil {
		t.Fatal(err)
	}
	at := a.accepted()
	if len(at) != n {
		t.Fatalf("%d arrived", len(at))
	}
	span := at[n-1].Sub(at[0]).Seconds()
	// n messages with a burst of 2 need at least (n-2)/rate seconds.
	if min := float64(n-cfg.Burst) / float64(cfg.Rate) * 0.95; span < min {
		t.Errorf("%d messages in %.2fs: faster than %.0f/s (need ≥ %.2fs)", n, span, float64(cfg.Rate), min)
	}
	if span > float64(n)/float64(cfg.Rate)*2 {
		t.Errorf("%d messages took %.2fs at %.0f/s", n, span, float64(cfg.Rate))
	}
	// No window of 1/rate holds more than burst+1 arrivals.
	win := time.Duration(float64(time.Second) / float64(cfg.Rate))
	for i := range at {
		j := i
		for j < len(at) && at[j].Sub(at[i]) < win {
			j++
		}
		if j-i > cfg.Burst+1 {
			t.Fatalf("%d messages within %s at %d: burst above %d", j-i, win, i, cfg.Burst)
		}
	}
}

// TestThrottlingSlowsDownAndRecovers: throttling replies halve the rate and
// the connections, logged; quiet time brings them back; nobody is lost.
func TestThrottlingSlowsDownAndRecovers(t *testing.T) {
	var a arrivals
	throttle := func(n int) *smtp.SMTPError {
		if n >= 20 && n < 24 {
			return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 28}, Message: "rate limited, slow down"}
		}
		return nil
	}
	s := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{Data: a.hook(throttle)}})
	cfg := config(s, sender.NoTLS)
	cfg.Connections, cfg.Rate, cfg.ThrottleRecover = 4, 200, 150*time.Millisecond
	var mu sync.Mutex
	var logs []string
	cfg.Logf = func(f string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		logs = append(logs, fmt.Sprintf(f, args...))
	}
	res, err := sendAll(t, cfg, 120)
	if err != nil {
		t.Fatal(err)
	}
	delivered := 0
	for _, r := range res {
		if r.Err == nil && !r.Released {
			delivered++
		} else if r.Err != nil && (!r.Err.Throttle() || r.Err.Permanent) {
			t.Errorf("envelope %d: %v", r.Env.ID, r.Err)
		}
	}
	if delivered+countThrottled(res) != 120 {
		t.Errorf("delivered %d, throttled %d of 120", delivered, countThrottled(res))
	}
	all := strings.Join(logs, "\n")
	if !strings.Contains(all, "relay is throttling") || !strings.Contains(all, "of 4 connections") {
		t.Errorf("no slow-down logged:\n%s", all)
	}
	if !strings.Contains(all, "relay quiet") {
		t.Errorf("no recovery logged:\n%s", all)
	}
}

func countThrottled(res map[int]sender.Result) int {
	n := 0
	for _, r := range res {
		if r.Err != nil && r.Err.Throttle() {
			n++
		}
	}
	return n
}

func groupSend(t *testing.T, pools []*sender.Pool, n int) (map[int]sender.Result, error) {
	t.Helper()
	in := make(chan *sender.Envelope, n)
	for i := 0; i < n; i++ {
		in <- &sender.Envelope{ID: i, From: "news@example.com", To: fmt.Sprintf("r%d@example.com", i),
			Data: []byte(fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i))}
	}
	close(in)
	var mu sync.Mutex
	res := map[int]sender.Result{}
	ctx := context.Background()
	err := sender.NewGroup(pools...).Run(ctx, ctx, in, func(r sender.Result) {
		mu.Lock()
		defer mu.Unlock()
		if _, dup := res[r.Env.ID]; dup {
			t.Errorf("envelope %d reported twice", r.Env.ID)
		}
		res[r.Env.ID] = r
	})
	return res, err
}

func pool(t *testing.T, s *sendertest.Server, name string, weight float64) *sender.Pool {
	cfg := config(s, sender.NoTLS)
	cfg.Name, cfg.Weight, cfg.ConnectAttempts = name, weight, 3
	p, err := sender.NewPool(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRelaysSpreadByWeight(t *testing.T) {
	a := sendertest.NewServer(t, sendertest.Options{})
	b := sendertest.NewServer(t, sendertest.Options{})
	res, err := groupSend(t, []*sender.Pool{pool(t, a, "a", 3), pool(t, b, "b", 1)}, 400)
	if err != nil {
		t.Fatal(err)
	}
	allSent(t, res, 400)
	if a.Count()+b.Count() != 400 {
		t.Fatalf("a %d + b %d != 400", a.Count(), b.Count())
	}
	if a.Count() < 270 || a.Count() > 330 {
		t.Errorf("weights 3:1 gave a %d, b %d", a.Count(), b.Count())
	}
}

// TestRelayFailover: a relay that is down is skipped, nobody is lost or
// sent twice, and it takes its share again once it is back.
func TestRelayFailover(t *testing.T) {
	a := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{
		Data: func([]string, []byte) *smtp.SMTPError { time.Sleep(2 * time.Millisecond); return nil }}})
	b := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{
		Data: func([]string, []byte) *smtp.SMTPError { time.Sleep(2 * time.Millisecond); return nil }}})
	b.SetDown(true)
	time.AfterFunc(300*time.Millisecond, func() { b.SetDown(false) })
	res, err := groupSend(t, []*sender.Pool{pool(t, a, "a", 1), pool(t, b, "b", 1)}, 600)
	if err != nil {
		t.Fatal(err)
	}
	allSent(t, res, 600)
	if got := len(a.ByRecipient()) + len(b.ByRecipient()); got != 600 || a.Count()+b.Count() != 600 {
		t.Fatalf("distinct %d, copies %d, want 600 each", got, a.Count()+b.Count())
	}
	if b.Count() == 0 {
		t.Errorf("relay b never came back into use")
	}
	t.Logf("a %d, b %d", a.Count(), b.Count())
}

func TestAllRelaysDown(t *testing.T) {
	a := sendertest.NewServer(t, sendertest.Options{})
	b := sendertest.NewServer(t, sendertest.Options{})
	a.SetDown(true)
	b.SetDown(true)
	res, err := groupSend(t, []*sender.Pool{pool(t, a, "a", 1), pool(t, b, "b", 1)}, 10)
	if err == nil || !strings.Contains(err.Error(), "relay unavailable") {
		t.Fatalf("err %v, want relay unavailable", err)
	}
	for id, r := range res {
		if !r.Released && r.Err == nil {
			t.Errorf("envelope %d reported sent", id)
		}
	}
}
