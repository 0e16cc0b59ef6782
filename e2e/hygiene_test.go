package e2e

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/mailblast/mailblast/sender/sendertest"
)

// fullRow is a report line with the reply text, which says why a row was
// skipped.
type fullRow struct {
	Row   int    `json:"row"`
	Email string `json:"email"`
	State string `json:"state"`
	Reply string `json:"reply"`
}

func (w *workspace) reportOf(args ...string) map[int]fullRow {
	w.t.Helper()
	out := w.mustRun(0, append([]string{"report", "--format", "json"}, args...)...)
	rows := map[int]fullRow{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var r fullRow
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			w.t.Fatalf("report line %q: %v", line, err)
		}
		rows[r.Row] = r
	}
	return rows
}

type suppression struct {
	Address, Reason, Source string
}

func (w *workspace) suppressions() map[string]suppression {
	w.t.Helper()
	out := w.mustRun(0, "suppress", "list", "--json")
	got := map[string]suppression{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var s suppression
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			w.t.Fatalf("suppress list line %q: %v", line, err)
		}
		got[s.Address] = s
	}
	return got
}

// TestDuplicatesSentOnce: the same address twice in a list (its domain,
// and its local part, in another case) is sent once, to the first row; the
// others are skipped naming that row.
func TestDuplicatesSentOnce(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 0)
	w.write("list.csv", "email,first_name,n\nann@example.com,Ann,1\nbob@example.com,Bob,2\nAnn@EXAMPLE.com,Ann again,3\nann@example.com,Ann thrice,4\n")
	w.mustRun(0, "send", "list.csv")
	if got := len(srv.ByRecipient()["ann@example.com"]); got != 1 || srv.Count() != 2 {
		t.Fatalf("ann got %d copies, %d messages in all; want 1 and 2", got, srv.Count())
	}
	rep := w.reportOf()
	for _, row := range []int{4, 5} {
		if r := rep[row]; r.State != "skipped" || r.Reply != "duplicate of row 2" {
			t.Errorf("row %d: %+v, want skipped as a duplicate of row 2", row, r)
		}
	}
	if s := w.status(); s.Sent != 2 || s.Skipped != 2 || !s.Finished {
		t.Errorf("status %+v", s)
	}
	out := w.mustRun(0, "report", "--state", "skipped")
	if strings.Count(out, "duplicate of row 2") != 2 {
		t.Errorf("report --state skipped:\n%s", out)
	}
}

// TestSuppressedNeverSent: an address on the suppression list (added in
// another case) is skipped with the reason, in every campaign, until it is
// removed.
func TestSuppressedNeverSent(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 3)
	out := w.mustRun(0, "suppress", "add", "USER2@example.com", "--reason", "asked by phone")
	if !strings.Contains(out, "1 added") {
		t.Errorf("suppress add said %q", out)
	}
	w.mustRun(0, "send", "list.csv")
	if n := len(srv.ByRecipient()["user2@example.com"]); n != 0 || srv.Count() != 2 {
		t.Fatalf("suppressed address got %d messages; %d in all", n, srv.Count())
	}
	if r := w.reportOf()[3]; r.State != "skipped" || r.Reply != "suppressed: asked by phone" {
		t.Errorf("row 3: %+v", r)
	}
	for _, rc := range srv.Commands() {
		if strings.Contains(strings.ToLower(rc), "user2") {
			t.Errorf("suppressed address reached the relay: %s", rc)
		}
	}
	// Removed, it is sent in the next campaign.
	w.mustRun(0, "suppress", "remove", "user2@example.com")
	if len(w.suppressions()) != 0 {
		t.Fatalf("still suppressed: %v", w.suppressions())
	}
	w.mustRun(0, "send", "list.csv", "--campaign", "again")
	if n := len(srv.ByRecipient()["user2@example.com"]); n != 1 {
		t.Errorf("after remove: %d messages to user2, want 1", n)
	}
}

// TestBounceSuppressesNextCampaign: a 550 5.1.1 puts the address on the
// suppression list by itself; the next campaign never tries it.
func TestBounceSuppressesNextCampaign(t *testing.T) {
	var mu sync.Mutex
	tries := map[string]int{}
	srv := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{
		Rcpt: func(addr string, attempt int) *smtp.SMTPError {
			mu.Lock()
			tries[strings.ToLower(addr)]++
			mu.Unlock()
			if strings.HasPrefix(addr, "user2@") {
				return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
			}
			if strings.HasPrefix(addr, "user3@") {
				return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "blocked by policy"}
			}
			return nil
		},
	}})
	w := forServer(t, srv, 4)
	w.mustRun(0, "send", "list.csv")
	sups := w.suppressions()
	if s, ok := sups["user2@example.com"]; !ok || s.Source != "bounce" || !strings.Contains(s.Reason, "no such user") {
		t.Fatalf("after a 5.1.1: suppressions %+v", sups)
	}
	if _, ok := sups["user3@example.com"]; ok {
		t.Errorf("a 5.7.1 (policy) suppressed the address: %+v", sups)
	}
	w.mustRun(0, "send", "list.csv", "--campaign", "december")
	rep := w.reportOf("--campaign", "december")
	if r := rep[3]; r.State != "skipped" || !strings.HasPrefix(r.Reply, "suppressed: ") {
		t.Errorf("bounced address in the next campaign: %+v", r)
	}
	if r := rep[4]; r.State != "failed" {
		t.Errorf("policy-refused address in the next campaign: %+v, want tried again and failed", r)
	}
	mu.Lock()
	defer mu.Unlock()
	if tries["user2@example.com"] != 1 || tries["user3@example.com"] != 2 {
		t.Errorf("RCPT attempts %v; want user2 once, user3 twice", tries)
	}
}

// TestIDNDomainAsPunycode: an internationalised domain goes to the relay
// in its ASCII form, in RCPT TO and in the To header; the ledger has the
// same form.
func TestIDNDomainAsPunycode(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 0)
	w.write("list.csv", "email,first_name,n\nann@bücher.example,Ann,1\nbob@example.com,Bob,2\n")
	w.mustRun(0, "send", "list.csv")
	msgs := srv.ByRecipient()["ann@xn--bcher-kva.example"]
	if len(msgs) != 1 {
		t.Fatalf("messages by recipient: %v", keys(srv.ByRecipient()))
	}
	if !strings.Contains(string(msgs[0].Data), "To: <ann@xn--bcher-kva.example>") {
		t.Errorf("To header:\n%s", msgs[0].Data)
	}
	if r := w.reportOf()[2]; r.Email != "ann@xn--bcher-kva.example" || r.State != "sent" {
		t.Errorf("ledger row: %+v", r)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
