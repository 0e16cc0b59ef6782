package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mailblast/mailblast/sender/sendertest"
)

// TestRelaysReport sends one campaign through two relays, one of which
// throttles (421 4.7.0 to the MAIL after every fourth message on a
// connection, which it then closes). The HTML page, rendered in Chromium,
// shows each relay with as many messages sent as that relay received,
// and the throttling one's replies; the metrics file has both relays'
// series, with the same throttling count, and promtool accepts it.
func TestRelaysReport(t *testing.T) {
	bin, tool := chromium(t), promtool(t)
	fast := sendertest.NewServer(t, sendertest.Options{})
	slow := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{Reply421AfterN: 4}})
	const rows = 60
	w := forServer(t, fast, rows)
	// A short throttle_recover: the governor halves the throttling relay's
	// rate at each 421, and the group keeps the relays' shares even, so a
	// long recovery would only make the test slow.
	w.write("mailblast.yaml", relayYAML(
		fmt.Sprintf("{name: fast, host: %s, port: %d, tls: none, connections: 2}", fast.Host(), fast.Port()),
		fmt.Sprintf("{name: slow, host: %s, port: %d, tls: none, connections: 2}", slow.Host(), slow.Port())))
	w.env = append(w.env, "MAILBLAST_SMTP_THROTTLE_RECOVER=200ms")
	prom := filepath.Join(w.dir, "run.prom")
	_, stderr, code := w.run("send", "list.csv", "--retry-wait", "0s", "--metrics-file", prom)
	if code != 0 && code != 75 {
		t.Fatalf("send: exit %d\n%s", code, stderr)
	}
	if fast.Count() == 0 || slow.Count() == 0 {
		t.Fatalf("messages: fast %d, slow %d; want both relays used", fast.Count(), slow.Count())
	}

	page := filepath.Join(w.dir, "report.html")
	w.mustRun(0, "report", "--format", "html", "-o", page)
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	assertSelfContained(t, string(html))
	dom, logs := browse(t, bin, page, "--dump-dom")
	if got := relayFigure(t, dom, "fast", "sent"); got != fast.Count() {
		t.Errorf("page: fast sent %d, the relay received %d", got, fast.Count())
	}
	if got := relayFigure(t, dom, "slow", "sent"); got != slow.Count() {
		t.Errorf("page: slow sent %d, the relay received %d", got, slow.Count())
	}
	throttles := relayFigure(t, dom, "slow", "throttles")
	if throttles == 0 || relayFigure(t, dom, "fast", "throttles") != 0 {
		t.Errorf("page: slow throttled %d times, fast %d; want > 0 and 0", throttles, relayFigure(t, dom, "fast", "throttles"))
	}
	var st struct {
		Relays []struct {
			Relay     string
			Sent      int
			Throttles int `json:"throttling_replies"`
		}
	}
	if err := json.Unmarshal([]byte(w.mustRun(0, "status", "--json")), &st); err != nil || len(st.Relays) != 2 {
		t.Fatalf("status --json relays %+v: %v", st.Relays, err)
	}
	if r := st.Relays[1]; r.Relay != "slow" || r.Sent != slow.Count() || r.Throttles != throttles {
		t.Errorf("status --json: %+v, want slow sending %d with %d throttling replies", r, slow.Count(), throttles)
	}
	if !strings.Contains(dom, `<title id="relays-title">`) || strings.Contains(logs, "CONSOLE(") {
		t.Errorf("no titled relay chart, or console messages:\n%s", logs)
	}
	if dir := os.Getenv("MAILBLAST_REPORT_SCREENSHOT_DIR"); dir != "" {
		browse(t, bin, page, "--screenshot="+filepath.Join(dir, "relays.png"), "--window-size=1100,3000", "--hide-scrollbars")
	}

	m := checkMetrics(t, tool, prom)
	for _, relay := range []string{"fast", "slow"} {
		for _, series := range []string{`mailblast_throttle_events_total{relay="%s"}`, `mailblast_relay_connections{relay="%s"}`} {
			if _, ok := m[fmt.Sprintf(series, relay)]; !ok {
				t.Errorf("metrics file lacks %s", fmt.Sprintf(series, relay))
			}
		}
	}
	if got := m[`mailblast_throttle_events_total{relay="slow"}`]; got != float64(throttles) {
		t.Errorf("metrics: slow throttled %v times, the page says %d", got, throttles)
	}
	if got := m[`mailblast_relay_messages_total{relay="fast",result="sent"}`]; got != float64(fast.Count()) {
		t.Errorf("metrics: fast sent %v, the relay received %d", got, fast.Count())
	}
}

// relayFigure reads the number in relay's row's data-relay-count="name".
func relayFigure(t *testing.T, dom, relay, name string) int {
	t.Helper()
	m := regexp.MustCompile(`<tr data-relay="` + relay + `">.*?data-relay-count="` + name + `">([\d,]+)<`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("no %s figure for relay %s in the page", name, relay)
	}
	n, err := strconv.Atoi(strings.ReplaceAll(m[1], ",", ""))
	if err != nil {
		t.Fatalf("relay %s %s %q: %v", relay, name, m[1], err)
	}
	return n
}
