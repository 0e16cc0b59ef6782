package report_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/report"
)

// fill imports n recipients and records a mix of outcomes over about two
// hours: 1% bounce (550 5.1.1), 5% greylisted then sent ten minutes later,
// 0.5% still deferred (421 4.7.28), the rest sent at the first attempt.
func fill(t testing.TB, s *ledger.SQLite, n int) int64 {
	ctx := context.Background()
	c := ledger.Campaign{Name: "november", Settings: []byte("{}")}
	if err := s.CreateCampaign(ctx, &c); err != nil {
		t.Fatal(err)
	}
	im, _ := s.Import(ctx, c.ID)
	for r := 2; r < n+2; r++ {
		email := fmt.Sprintf("user%d@%s", r, domain(r))
		if err := im.Add(ledger.Recipient{Row: r, Email: email, Key: email, Offset: int64(r * 40)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := im.Commit(); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 3, 14, 0, 0, 0, time.UTC)
	step := 2 * time.Hour / time.Duration(n)
	var later []ledger.Outcome
	for lo := 2; lo < n+2; lo += 1024 {
		var outs []ledger.Outcome
		for r := lo; r < min(lo+1024, n+2); r++ {
			o := outcomeFor(r)
			outs = append(outs, o)
			if o.State == ledger.Deferred && r%200 != 7 {
				later = append(later, ledger.Outcome{Row: r, State: ledger.Sent, Attempted: true, Attempt: 2,
					Code: 250, Enhanced: "2.0.0", Text: "Ok: queued"})
			}
		}
		at := start.Add(step * time.Duration(lo))
		if err := s.Apply(ctx, c.ID, ledger.Batch{Outcomes: outs}, at); err != nil {
			t.Fatal(err)
		}
		if len(later) >= 1024 || lo+1024 >= n+2 {
			if err := s.Apply(ctx, c.ID, ledger.Batch{Outcomes: later}, at.Add(10*time.Minute)); err != nil {
				t.Fatal(err)
			}
			later = later[:0]
		}
	}
	return c.ID
}

func domain(r int) string {
	switch m := r % 100; {
	case m < 40:
		return "gmail.com"
	case m < 60:
		return "yahoo.com"
	case m < 70:
		return "outlook.com"
	}
	return fmt.Sprintf("d%d.example.net", r%37)
}

func outcomeFor(r int) ledger.Outcome {
	o := ledger.Outcome{Row: r, Attempted: true, Attempt: 1, MessageID: fmt.Sprintf("<%d@x>", r)}
	switch {
	case r%100 == 3:
		o.State, o.Code, o.Enhanced, o.Text = ledger.Failed, 550, "5.1.1", "No such user here"
	case r%200 == 7:
		o.State, o.Code, o.Enhanced, o.Text = ledger.Deferred, 421, "4.7.28", "Rate limited, try again later"
		o.NextAttempt = time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC)
	case r%20 == 9:
		o.State, o.Code, o.Enhanced, o.Text = ledger.Deferred, 451, "4.7.1", "Greylisted"
		o.NextAttempt = time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	default:
		o.State, o.Code, o.Enhanced, o.Text = ledger.Sent, 250, "2.0.0", fmt.Sprintf("Ok: queued as %x", r)
	}
	return o
}

func TestPage(t *testing.T) {
	s, err := ledger.Open(filepath.Join(t.TempDir(), "l.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id := fill(t, s, 2000)
	st, err := s.Stats(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Attempted != 2000 || st.HardBounced != 20 || st.Counts.Sent != 1970 || st.Counts.Deferred != 10 {
		t.Errorf("attempted %d, hard bounced %d, counts %+v", st.Attempted, st.HardBounced, st.Counts)
	}
	if st.Attempts[1] != 1900 || st.Attempts[2] != 100 {
		t.Errorf("attempts histogram %v", st.Attempts)
	}
	var buf bytes.Buffer
	p := report.New("november", st, false, nil, time.Now())
	if err := report.WritePage(&buf, p); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	for _, want := range []string{`data-count="sent">1,970<`, `data-count="failed">20<`, "Hard-bounce rate", ">1%<",
		"not recorded yet", "Rate limited, try again later", "gmail.com", "<title id=\"timeline-title\">"} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if len(p.Warnings) != 0 {
		t.Errorf("warnings at 1%% bounces: %q", p.Warnings)
	}
	if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*"?(https?:)?//`).FindString(html); m != "" {
		t.Errorf("page refers outside itself: %s", m)
	}
}

func TestWarnings(t *testing.T) {
	st := ledger.Stats{Attempted: 1000, HardBounced: 25}
	st.Counts.Sent = 975
	p := report.New("x", st, true, &report.Feedback{Complaints: 4, Unsubscribes: 9}, time.Now())
	got := strings.Join(p.Warnings, "\n")
	for _, want := range []string{"Hard-bounce rate is 2.5% (25 of 1,000 recipients attempted), over the usual 2% bounce-rate warning",
		"Complaint rate is 0.41% (4 of 975 recipients delivered), over Gmail's 0.3% spam-rate ceiling"} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings lack %q:\n%s", want, got)
		}
	}
}

// TestMillion measures the report of a 1,000,000-recipient ledger. It
// runs only with MAILBLAST_REPORT_1M set to a path: the ledger is built
// there once (a few minutes) and reused.
func TestMillion(t *testing.T) {
	path := os.Getenv("MAILBLAST_REPORT_1M")
	if path == "" {
		t.Skip("set MAILBLAST_REPORT_1M=/path/ledger.db to measure")
	}
	_, statErr := os.Stat(path)
	s, err := ledger.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if statErr != nil {
		fill(t, s, 1_000_000)
	}
	ctx := context.Background()
	all, _ := s.Campaigns(ctx)
	cpu0 := cpuTime()
	t0 := time.Now()
	st, err := s.Stats(ctx, all[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	var buf bytes.Buffer
	if err := report.WritePage(&buf, report.New(all[0].Name, st, true, nil, time.Now())); err != nil {
		t.Fatal(err)
	}
	t.Logf("1M recipients: stats %v, render %v, CPU %v, page %d bytes, counts %+v", t1.Sub(t0), time.Since(t1), cpuTime()-cpu0, buf.Len(), st.Counts)
	if out := os.Getenv("MAILBLAST_REPORT_1M_HTML"); out != "" {
		os.WriteFile(out, buf.Bytes(), 0o644)
	}
}

// cpuTime is the process's CPU time so far: on a shared machine it says
// more than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestEmptyCampaign: a campaign nothing was sent for yet still has a page.
func TestEmptyCampaign(t *testing.T) {
	var buf bytes.Buffer
	p := report.New("empty", ledger.Stats{}, false, nil, time.Now())
	if err := report.WritePage(&buf, p); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"No attempt recorded yet", "No recipient yet", `data-count="total">0<`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if err := report.WriteIndex(&buf, report.Index{Pages: []*report.Page{p}}); err != nil {
		t.Fatal(err)
	}
}

// TestLateFeedbackInRates: a DSN's permanent bounce counts in the
// hard-bounce rate as a 5xx at send time does, and those who complained
// or unsubscribed were delivered to.
func TestLateFeedbackInRates(t *testing.T) {
	st := ledger.Stats{Attempted: 1000, HardBounced: 5, LateHardBounced: 20}
	st.Counts.Sent, st.Counts.Bounced, st.Counts.Complained, st.Counts.Unsubscribed = 960, 20, 5, 10
	p := report.New("x", st, true, &report.Feedback{Complaints: 5, Unsubscribes: 10}, time.Now())
	if r := p.Rate("Hard-bounce rate"); r.Num != 25 {
		t.Errorf("hard-bounce rate counts %d, want 5 at send time + 20 later", r.Num)
	}
	if r := p.Rate("Delivery rate"); r.Num != 975 {
		t.Errorf("delivery rate counts %d, want 960 sent + 5 complained + 10 unsubscribed", r.Num)
	}
}
