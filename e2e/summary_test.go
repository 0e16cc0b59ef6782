package e2e

import (
	"regexp"
	"strings"
	"testing"
)

// TestEndSummary: a run with a progress bar (a person at a terminal) ends
// with its rates, its commonest reasons with their counts and what to do
// next; plain output, what cron gets, keeps its one line.
func TestEndSummary(t *testing.T) {
	srv := reportRelay(t)
	w := forServer(t, srv, 60)
	w.env = append(w.env, "MAILBLAST_RETRY_SCHEDULE=1h")
	_, stderr, code := w.run("send", "list.csv", "--retry-wait", "0s", "--progress", "bar")
	if code != 75 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	// 60 rows: 6 refused 550, 5 always 421, 7 greylisted once.
	for _, want := range []string{
		`delivered 70\.0% of the 60 recipients tried; this run: 42 sent, 6 bounced \(5xx\)`,
		`most common reasons this run:`,
		`\n\s+7  451 4\.7\.1 Greylisted, come back later\n\s+6  550 5\.1\.1 No such user here\n\s+5  421 4\.7\.28 Rate limited, try again later\n`,
		`next: 12 not final yet: mailblast resume after \d\d:\d\d, or let cron do it`,
		`next: 6 failed: mailblast report --campaign list --state failed lists them`,
	} {
		if !regexp.MustCompile(want).MatchString(stderr) {
			t.Errorf("summary lacks %q:\n%s", want, stderr)
		}
	}
	_, plain, _ := w.run("resume", "--progress", "plain")
	if strings.Contains(plain, "most common reasons") || strings.Contains(plain, "next:") {
		t.Errorf("plain output grew a summary:\n%s", plain)
	}
}
