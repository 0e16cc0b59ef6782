package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailblast/mailblast/sender/sendertest"
)

// chromium is the path of headless Chromium, or the test skips (fails
// when real servers are required).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("MAILBLAST_REQUIRE_REAL_SERVERS") != "" {
		t.Fatal("chromium not installed (scripts/install-deps.sh installs it)")
	}
	t.Skip("chromium not installed; run scripts/install-deps.sh")
	return ""
}

// browse runs headless Chromium on a file with every host name
// unresolvable, and returns what it printed (with --dump-dom, the DOM it
// rendered) and what it logged.
func browse(t *testing.T, bin, page string, extra ...string) (printed, logs string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + t.TempDir(),
		"--host-resolver-rules=MAP * ~NOTFOUND", "--enable-logging=stderr", "--v=0"}, extra...)
	c := exec.CommandContext(ctx, bin, append(args, "file://"+page)...)
	// Files, not pipes: Chromium's crash handler outlives it holding its
	// stderr, and Wait would wait for that pipe to close.
	dir := t.TempDir()
	out, errb := createFile(t, filepath.Join(dir, "out")), createFile(t, filepath.Join(dir, "err"))
	c.Stdout, c.Stderr = out, errb
	err := c.Run()
	out.Close()
	errb.Close()
	o, _ := os.ReadFile(out.Name())
	e, _ := os.ReadFile(errb.Name())
	if err != nil {
		t.Fatalf("chromium %s: %v\n%s", page, err, e)
	}
	return string(o), string(e)
}

func createFile(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// reportRelay refuses some recipients for good, greylists others once and
// keeps deferring a few, so the report has every outcome to show.
func reportRelay(t *testing.T) *sendertest.Server {
	return sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{Rcpt: func(addr string, attempt int) *smtp.SMTPError {
		n, _ := strconv.Atoi(strings.TrimPrefix(strings.SplitN(addr, "@", 2)[0], "user"))
		switch {
		case n%10 == 3:
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
		case n%13 == 5:
			return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 28}, Message: "Rate limited, try again later"}
		case n%7 == 2 && attempt == 1:
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "Greylisted, come back later"}
		}
		return nil
	}}})
}

// TestReportHTML sends a real campaign with faults, then renders its page
// in Chromium: the figures in the DOM are status --json's, and the page
// asks for nothing outside itself.
func TestReportHTML(t *testing.T) {
	bin := chromium(t)
	srv := reportRelay(t)
	const rows = 120
	w := forServer(t, srv, rows)
	var list strings.Builder
	list.WriteString("email,first_name,n\n")
	domains := []string{"example.com", "example.net", "example.org", "mail.example"}
	for i := 1; i <= rows; i++ {
		fmt.Fprintf(&list, "user%d@%s,Name%d,%d\n", i, domains[i%len(domains)], i, i)
	}
	w.write("list.csv", list.String())
	w.env = append(w.env, "MAILBLAST_RETRY_SCHEDULE=100ms")
	w.mustRun(75, "send", "list.csv", "--retry-wait", "0s")
	time.Sleep(300 * time.Millisecond)
	w.mustRun(75, "resume", "--retry-wait", "0s")
	st := w.status()
	if st.Sent == 0 || st.Failed == 0 || st.Deferred == 0 {
		t.Fatalf("want every outcome to chart, status %+v", st)
	}

	page := filepath.Join(w.dir, "report.html")
	w.mustRun(0, "report", "--format", "html", "-o", page)
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	assertSelfContained(t, string(html))
	dom, logs := browse(t, bin, page, "--dump-dom")
	want := map[string]int{"total": st.Total, "sent": st.Sent, "deferred": st.Deferred, "failed": st.Failed,
		"skipped": st.Skipped, "pending": st.Pending, "inflight": st.Inflight}
	for k, v := range want {
		if got := domFigure(t, dom, k); got != v {
			t.Errorf("page shows %s %d, status --json %d", k, got, v)
		}
	}
	for _, s := range []string{"Rate limited, try again later", "5.1.1", "example.net", "not recorded yet",
		"<title id=\"timeline-title\">", "Hard-bounce rate"} {
		if !strings.Contains(dom, s) {
			t.Errorf("rendered page lacks %q", s)
		}
	}
	// A 10% bounce rate is over the 2% warning: it heads the page.
	if !regexp.MustCompile(`role="alert"[^>]*>.*Hard-bounce rate is \d+(\.\d+)?%`).MatchString(strings.ReplaceAll(dom, "\n", " ")) {
		t.Errorf("no bounce-rate warning at the top")
	}
	if strings.Contains(logs, "CONSOLE(") {
		t.Errorf("console messages:\n%s", logs)
	}
	shot := filepath.Join(t.TempDir(), "report.png")
	if dir := os.Getenv("MAILBLAST_REPORT_SCREENSHOT_DIR"); dir != "" {
		shot = filepath.Join(dir, "report.png")
	}
	browse(t, bin, page, "--screenshot="+shot, "--window-size=1100,3000", "--hide-scrollbars")
	if fi, err := os.Stat(shot); err != nil || fi.Size() < 10_000 {
		t.Errorf("screenshot %s: %v", shot, err)
	}
}

// TestReportHTMLAll writes the overview and a page per campaign to a
// directory; the overview links to pages that exist.
func TestReportHTMLAll(t *testing.T) {
	bin := chromium(t)
	srv := reportRelay(t)
	w := forServer(t, srv, 40)
	w.mustRun(75, "send", "list.csv", "--campaign", "first", "--retry-wait", "0s")
	w.mustRun(75, "send", "list.csv", "--campaign", "second one", "--retry-wait", "0s")
	dir := filepath.Join(w.dir, "out")
	w.mustRun(0, "report", "--all", "--format", "html", "-o", dir)
	dom, _ := browse(t, bin, filepath.Join(dir, "index.html"), "--dump-dom")
	links := regexp.MustCompile(`<a href="([^"]+)">([^<]+)</a>`).FindAllStringSubmatch(dom, -1)
	if len(links) != 2 {
		t.Fatalf("overview links %q, want 2", links)
	}
	for _, l := range links {
		b, err := os.ReadFile(filepath.Join(dir, l[1]))
		if err != nil {
			t.Fatalf("overview links to %s: %v", l[1], err)
		}
		if !strings.Contains(string(b), "Campaign "+l[2]) {
			t.Errorf("%s is not campaign %s's page", l[1], l[2])
		}
		assertSelfContained(t, string(b))
	}
}

// assertSelfContained fails on any src or href that leaves the file, and
// on any CSS url() or @import that does.
func assertSelfContained(t *testing.T, html string) {
	t.Helper()
	re := regexp.MustCompile(`(?i)((src|href|xlink:href)\s*=\s*["']?\s*(https?:|//|ftp:)|url\(\s*["']?\s*(https?:|//)|@import)`)
	if m := re.FindString(html); m != "" {
		t.Errorf("page refers outside itself: %s", m)
	}
}

// domFigure reads the number in the element with data-count="name", as
// people read it: 1,234.
func domFigure(t *testing.T, dom, name string) int {
	t.Helper()
	m := regexp.MustCompile(`data-count="` + name + `">([\d,]+)<`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("no %s figure in the page", name)
	}
	n, err := strconv.Atoi(strings.ReplaceAll(m[1], ",", ""))
	if err != nil {
		t.Fatalf("%s figure %q: %v", name, m[1], err)
	}
	return n
}
