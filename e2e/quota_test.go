package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailblast/mailblast/sender/sendertest"
)

// quotaStatus is status --json's view of one campaign and its relays'
// quotas.
type quotaStatus struct {
	Campaign string
	Pending  int
	Sent     int
	Failed   int
	Deferred int
	Quotas   []struct {
		Relay string
		Quota *struct {
			Quota      string
			Used, Left int
		}
		Warmup *struct {
			Date                 string
			Day, Allowance, Left int
		}
		NextRoom *time.Time `json:"next_room"`
	}
}

func (w *workspace) quotaStatus(campaign string) quotaStatus {
	w.t.Helper()
	out := w.mustRun(0, "status", "--json", "--campaign", campaign)
	var s quotaStatus
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		w.t.Fatalf("status --json: %v\n%s", err, out)
	}
	return s
}

// listOf writes a list of n rows whose addresses start at user<from>.
func (w *workspace) listOf(name string, from, n int) {
	var b strings.Builder
	b.WriteString("email,first_name,n\n")
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&b, "user%d@example.com,Name%d,%d\n", i, i, i)
	}
	w.write(name, b.String())
}

// TestQuotaHoldsAcrossRunsAndCampaigns: smtp.quota 30/1h, counted from the
// ledger, holds across a send of 20, a resume and a second campaign of 20
// in the same state directory: the relay gets 30 messages in all, the
// second campaign's other 10 wait pending (not failed), its runs exit 75
// and say when the quota has room again, and status shows the window used up.
func TestQuotaHoldsAcrossRunsAndCampaigns(t *testing.T) {
	s := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, s, 20)
	w.env = append(w.env, "MAILBLAST_SMTP_QUOTA=30/1h")
	w.mustRun(0, "send", "list.csv")
	w.mustRun(0, "resume")
	if s.Count() != 20 {
		t.Fatalf("relay got %d after the first campaign, want 20", s.Count())
	}
	w.listOf("second.csv", 101, 20)
	_, stderr, code := w.run("send", "second.csv", "--retry-wait", "0s")
	relay := fmt.Sprintf("%s:%d", s.Host(), s.Port())
	want := fmt.Sprintf("quota 30/1h of relay %s used up; next room at ", relay)
	if code != 75 || s.Count() != 30 || !strings.Contains(stderr, want) || strings.Contains(stderr, "warning") {
		t.Fatalf("second campaign: exit %d, relay has %d; want 75 and 30, and %q in:\n%s", code, s.Count(), want, stderr)
	}
	_, stderr, code = w.run("resume")
	if code != 75 || s.Count() != 30 || !strings.Contains(stderr, want) {
		t.Fatalf("resume with the quota used up: exit %d, relay has %d; want 75 and 30, and %q in:\n%s", code, s.Count(), want, stderr)
	}
	st := w.quotaStatus("second.csv")
	if st.Sent != 10 || st.Pending != 10 || st.Failed+st.Deferred != 0 {
		t.Errorf("second campaign: %+v; want 10 sent, 10 pending, none failed or deferred", st)
	}
	if q := st.Quotas; len(q) != 1 || q[0].Relay != relay || q[0].Quota == nil || *q[0].Quota != struct {
		Quota      string
		Used, Left int
	}{"30/1h", 30, 0} || q[0].Warmup != nil || q[0].NextRoom == nil {
		t.Errorf("status quotas: %+v; want %s's 30/1h at 30 used, 0 left, with a next room", q, relay)
	}
	if out := w.mustRun(0, "status", "--campaign", "second.csv"); !strings.Contains(out, "relay "+relay+": quota 30/1h: 30 used, 0 left; next room at ") {
		t.Errorf("status does not show the quota's use:\n%s", out)
	}
	// A new campaign while the quota is used up: imported, nothing sent.
	w.listOf("third.csv", 201, 5)
	_, stderr, code = w.run("send", "third.csv", "--retry-wait", "0s")
	if code != 75 || s.Count() != 30 || !strings.Contains(stderr, want) {
		t.Fatalf("third campaign: exit %d, relay has %d; want 75 and 30, and %q in:\n%s", code, s.Count(), want, stderr)
	}
	if st := w.quotaStatus("third.csv"); st.Pending != 5 || st.Sent != 0 {
		t.Errorf("third campaign: %+v; want its 5 rows pending", st)
	}
}

// TestQuotaSpillsToRelayWithRoom: a relay whose quota is used up hands its
// rows to the next relay that has room; when every relay is used up the
// rest wait and the run exits 75.
func TestQuotaSpillsToRelayWithRoom(t *testing.T) {
	small := sendertest.NewServer(t, sendertest.Options{})
	big := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, small, 20)
	w.write("mailblast.yaml", relayYAML(
		fmt.Sprintf("{name: small, host: %s, port: %d, tls: none, connections: 2, quota: 5/1h}", small.Host(), small.Port()),
		fmt.Sprintf("{name: big, host: %s, port: %d, tls: none, connections: 2}", big.Host(), big.Port())))
	w.mustRun(0, "send", "list.csv")
	if small.Count() != 5 || big.Count() != 15 {
		t.Fatalf("small got %d, big %d; want 5 and 15", small.Count(), big.Count())
	}
	w.write("mailblast.yaml", relayYAML(
		fmt.Sprintf("{name: small, host: %s, port: %d, tls: none, connections: 2, quota: 5/1h}", small.Host(), small.Port()),
		fmt.Sprintf("{name: big, host: %s, port: %d, tls: none, connections: 2, quota: 20/1h}", big.Host(), big.Port())))
	w.listOf("second.csv", 101, 20)
	_, stderr, code := w.run("send", "second.csv", "--retry-wait", "0s")
	if code != 75 || small.Count() != 5 || big.Count() != 20 {
		t.Fatalf("both relays limited: exit %d, small %d, big %d; want 75, 5 and 20\n%s", code, small.Count(), big.Count(), stderr)
	}
	if st := w.quotaStatus("second.csv"); st.Sent != 5 || st.Pending != 15 || st.Failed != 0 {
		t.Errorf("second campaign: %+v; want 5 sent, 15 pending", st)
	}
}

// TestWarmupAllowance: smtp.warmup starting today (UTC) allows the first
// day's volume; the rest waits for tomorrow, and status shows the
// allowance and what is left of it.
func TestWarmupAllowance(t *testing.T) {
	s := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, s, 20)
	today := time.Now().UTC().Format(time.DateOnly)
	w.write("mailblast.yaml", fmt.Sprintf("smtp:\n  warmup: {start: %s, daily: [4, 50, 100]}\n", today))
	_, stderr, code := w.run("send", "list.csv", "--retry-wait", "0s")
	if code != 75 || s.Count() != 4 || !strings.Contains(stderr, "warm-up allowance 4 of relay ") {
		t.Fatalf("exit %d, relay has %d; want 75 and 4, and the warm-up named:\n%s", code, s.Count(), stderr)
	}
	st := w.quotaStatus("list.csv")
	if q := st.Quotas; len(q) != 1 || q[0].Warmup == nil || q[0].Quota != nil || q[0].Warmup.Day != 1 || q[0].Warmup.Date != today ||
		q[0].Warmup.Allowance != 4 || q[0].Warmup.Left != 0 {
		t.Fatalf("status quotas: %+v; want day 1, today, allowance 4, 0 left", q)
	}
	tomorrow := time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	if nr := st.Quotas[0].NextRoom; nr == nil || !nr.Equal(tomorrow) {
		t.Errorf("next room %v, want %v", nr, tomorrow)
	}
	out := w.mustRun(0, "status")
	if !strings.Contains(out, "warm-up day 1 ("+today+" UTC): allowance 4, 0 left") {
		t.Errorf("status does not show today's allowance:\n%s", out)
	}
}

// TestQuotaConfigErrors: a quota or warm-up that cannot be read exits 78
// naming its key, before anything is sent.
func TestQuotaConfigErrors(t *testing.T) {
	s := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, s, 3)
	w.env = append(w.env, "MAILBLAST_SMTP_QUOTA=2000/day")
	_, stderr, code := w.run("send", "list.csv")
	if code != 78 || !strings.Contains(stderr, `smtp.quota: quota "2000/day": use MESSAGES/WINDOW`) {
		t.Errorf("smtp.quota 2000/day: exit %d, want 78 naming the key:\n%s", code, stderr)
	}
	w.env = w.env[:len(w.env)-1]
	w.write("mailblast.yaml", relayYAML(fmt.Sprintf("{name: a, host: %s, port: %d, tls: none, warmup: {start: 2026-12-01, daily: [200, 0]}}", s.Host(), s.Port())))
	_, stderr, code = w.run("send", "list.csv")
	if code != 78 || !strings.Contains(stderr, "smtp.relays[0].warmup.daily[1] is 0") {
		t.Errorf("a warm-up day of 0: exit %d, want 78 naming the key:\n%s", code, stderr)
	}
	if s.Count() != 0 {
		t.Errorf("%d messages sent", s.Count())
	}
}

// TestQuotaSharedByConcurrentRuns: two campaigns sending through one relay
// at the same time, each with a list larger than the quota, share it: each
// reads the other's sends from the ledger as it goes (before every
// message here: a hundredth of 30 is less than one), so together they
// overshoot by about the messages on the wire, not by a whole quota.
func TestQuotaSharedByConcurrentRuns(t *testing.T) {
	slow := func([]string, []byte) *smtp.SMTPError { time.Sleep(40 * time.Millisecond); return nil }
	s := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{Data: slow}})
	w := forServer(t, s, 40)
	w.listOf("other.csv", 101, 40)
	w.env = append(w.env, "MAILBLAST_SMTP_QUOTA=30/1h", "MAILBLAST_SMTP_CONNECTIONS=1")
	codes := make(chan int, 2)
	for _, list := range []string{"list.csv", "other.csv"} {
		go func() {
			_, _, code := w.run("send", list, "--retry-wait", "0s")
			codes <- code
		}()
	}
	for range 2 {
		if code := <-codes; code != 75 {
			t.Errorf("a run exited %d, want 75", code)
		}
	}
	if n := s.Count(); n < 30 || n > 35 {
		t.Fatalf("the relay got %d messages from two runs under a quota of 30; want 30, or a few more for those on the wire", n)
	}
	t.Logf("relay got %d", s.Count())
}
