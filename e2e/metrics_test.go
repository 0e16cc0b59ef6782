package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// promtool is the path of Prometheus's promtool, or the test skips (fails
// when real servers are required).
func promtool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	if os.Getenv("MAILBLAST_REQUIRE_REAL_SERVERS") != "" {
		t.Fatal("promtool not installed (scripts/install-deps.sh installs Debian's prometheus package)")
	}
	t.Skip("promtool not installed; run scripts/install-deps.sh")
	return ""
}

// checkMetrics runs promtool check metrics on the file and returns its
// samples by series ("name{labels}" as written).
func checkMetrics(t *testing.T, tool, path string) map[string]float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := exec.Command(tool, "check", "metrics")
	c.Stdin = f
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics %s: %v\n%s", path, err, out)
	}
	b, _ := os.ReadFile(path)
	samples := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		samples[line[:i]] = v
	}
	return samples
}

// TestMetricsFile: send and resume write a metrics file promtool accepts,
// with the run's exit code and the counts status --json gives, from the
// flag, the environment or the config file.
func TestMetricsFile(t *testing.T) {
	tool := promtool(t)
	srv := reportRelay(t)
	w := forServer(t, srv, 60)
	w.env = append(w.env, "MAILBLAST_RETRY_SCHEDULE=100ms")
	prom := filepath.Join(w.dir, "textfile", "mailblast.prom")
	os.MkdirAll(filepath.Dir(prom), 0o755)
	before := float64(time.Now().Unix())
	w.mustRun(75, "send", "list.csv", "--retry-wait", "0s", "--metrics-file", prom)
	m := checkMetrics(t, tool, prom)
	st := w.status()
	want := map[string]float64{
		"mailblast_last_run_exit_code":                                75,
		"mailblast_run_in_progress":                                   0,
		`mailblast_recipients{campaign="list",state="sent"}`:          float64(st.Sent),
		`mailblast_recipients{campaign="list",state="deferred"}`:      float64(st.Deferred),
		`mailblast_recipients{campaign="list",state="failed"}`:        float64(st.Failed),
		`mailblast_messages_total{campaign="list",result="sent"}`:     float64(st.Sent),
		`mailblast_smtp_replies_total{campaign="list",code="5.1.1"}`:  float64(st.Failed),
		`mailblast_smtp_replies_total{campaign="list",code="2xx"}`:    float64(st.Sent),
		`mailblast_smtp_replies_total{campaign="list",code="4.7.28"}`: 5,
		`mailblast_messages_total{campaign="list",result="deferred"}`: float64(st.Deferred),
		`mailblast_smtp_replies_total{campaign="list",code="4.7.1"}`:  float64(st.Deferred - 5),
		`mailblast_recipients{campaign="list",state="skipped"}`:       0,
		`mailblast_messages_total{campaign="list",result="failed"}`:   float64(st.Failed),
		`mailblast_recipients{campaign="list",state="pending"}`:       0,
		`mailblast_recipients{campaign="list",state="inflight"}`:      0,
	}
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	start, end := m["mailblast_last_run_start_timestamp_seconds"], m["mailblast_last_run_end_timestamp_seconds"]
	if start < before-1 || end < start || m["mailblast_last_run_duration_seconds"] < 0 {
		t.Errorf("start %v end %v duration %v, run began after %v", start, end, m["mailblast_last_run_duration_seconds"], before)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(prom), "*")); len(left) != 1 {
		t.Errorf("textfile directory holds %q, want only the metrics file", left)
	}

	// The environment names the file for resume; the greylisted pass now.
	time.Sleep(300 * time.Millisecond)
	env := filepath.Join(w.dir, "textfile", "env.prom")
	w.env = append(w.env, "MAILBLAST_METRICS_FILE="+env)
	w.mustRun(75, "resume")
	m = checkMetrics(t, tool, env)
	if st := w.status(); m[`mailblast_recipients{campaign="list",state="deferred"}`] != float64(st.Deferred) || st.Deferred != 5 {
		t.Errorf("after resume: deferred %v, status %+v", m[`mailblast_recipients{campaign="list",state="deferred"}`], st)
	}

	// The config file's metrics_file; a resume with nothing due still
	// records its run, so an alert on a stale run stays quiet.
	w.env = w.env[:len(w.env)-1]
	w.write("mailblast.yaml", "metrics_file: conf.prom\n")
	w.mustRun(0, "campaign", "abandon", "list")
	w.mustRun(0, "resume")
	m = checkMetrics(t, tool, filepath.Join(w.dir, "conf.prom"))
	if m["mailblast_last_run_exit_code"] != 0 || m["mailblast_last_run_end_timestamp_seconds"] == 0 {
		t.Errorf("nothing to resume: %v", m)
	}
}

// TestMetricsFileUnwritable: a metrics file that cannot be written is a
// configuration error found before anything is sent.
func TestMetricsFileUnwritable(t *testing.T) {
	srv := reportRelay(t)
	w := forServer(t, srv, 5)
	_, stderr, code := w.run("send", "list.csv", "--metrics-file", filepath.Join(w.dir, "no", "such", "dir", "m.prom"))
	if code != 78 || !strings.Contains(stderr, "metrics_file") {
		t.Errorf("exit %d, stderr %q; want 78 naming metrics_file", code, stderr)
	}
	if n := srv.Count(); n != 0 {
		t.Errorf("%d messages sent", n)
	}
}
