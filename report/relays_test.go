package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/mailblast/mailblast/ledger"
)

// TestPageRelays: the page has one row per relay, headed by its name,
// with its throttling replies, and a chart whose bars say what they are
// in words; a ledger with no relay recorded says so instead.
func TestPageRelays(t *testing.T) {
	t0 := time.Date(2026, 11, 3, 14, 0, 0, 0, time.UTC)
	st := ledger.Stats{Relays: []ledger.RelayStats{
		{Relay: "office", Sent: 1200, Deferred: 3, Throttles: 0, First: t0, Last: t0.Add(time.Minute), Minutes: 2, PeakMinute: 700},
		{Relay: "ses", Sent: 40, Deferred: 9, Throttles: 17, First: t0, Last: t0.Add(time.Minute), Minutes: 1, PeakMinute: 49},
	}}
	var b bytes.Buffer
	if err := WritePage(&b, New("nov", st, true, nil, t0)); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	for _, want := range []string{`<tr data-relay="office"><th scope="row">office</th><td class="n">1,203</td>`,
		`data-relay-count="throttles">17<`, `<td class="n">601.5</td>`, `<title>ses: 9 deferred</title>`} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	b.Reset()
	if err := WritePage(&b, New("old", ledger.Stats{}, true, nil, t0)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "No attempt recorded with its relay yet") {
		t.Error("a page without relays does not say so")
	}
}
