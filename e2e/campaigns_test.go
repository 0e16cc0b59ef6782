package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailblast/mailblast/sender/sendertest"
)

// TestBrokenTemplateLeavesNoCampaign: a template that fails on the first
// row sent exits 65 and leaves nothing behind, so the fixed template sends
// under the same name without any clean-up.
func TestBrokenTemplateLeavesNoCampaign(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 5)
	w.write("typo.tmpl", "From: news@example.com\nSubject: Hi {{.frist_name}}\n\nbody\n")
	w.mustRun(65, "send", "list.csv", "--template", "typo.tmpl")
	if out := w.mustRun(0, "campaigns", "--json"); strings.TrimSpace(out) != "" {
		t.Fatalf("a campaign was kept after the template failed:\n%s", out)
	}
	w.mustRun(0, "send", "list.csv")
	if got := len(srv.ByRecipient()); got != 5 {
		t.Fatalf("relay got %d recipients, want 5", got)
	}
}

// TestResumeGoesPastAStuckCampaign: of two deferred campaigns, one's list
// is then edited. A bare resume reports that one with the command that
// clears it, finishes the other and exits 0; abandon then clears it, and rm
// deletes it only with --yes.
func TestResumeGoesPastAStuckCampaign(t *testing.T) {
	var deferAll atomic.Bool
	deferAll.Store(true)
	srv := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{Rcpt: func(string, int) *smtp.SMTPError {
		if deferAll.Load() {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
		}
		return nil
	}}})
	w := forServer(t, srv, 3)
	w.env = append(w.env, "MAILBLAST_RETRY_SCHEDULE=1s", "MAILBLAST_RETRY_WAIT=0s")
	list, _ := os.ReadFile(filepath.Join(w.dir, "list.csv"))
	w.write("other.csv", strings.ReplaceAll(string(list), "@example.com", "@example.org"))
	w.mustRun(75, "send", "list.csv")
	w.mustRun(75, "send", "other.csv")
	w.write("list.csv", string(list)+"late@example.com,Late,4\n")
	deferAll.Store(false)
	time.Sleep(1500 * time.Millisecond) // the 1s retry falls due

	_, errs, code := w.run("resume")
	if code != 0 || !strings.Contains(errs, `mailblast campaign abandon list`) {
		t.Fatalf("resume: exit %d, want 0 naming the abandon command\n%s", code, errs)
	}
	if got := len(srv.ByRecipient()); got != 3 {
		t.Fatalf("relay got %d recipients, want other.csv's 3", got)
	}
	w.mustRun(0, "campaign", "abandon", "list")
	if _, errs, _ := w.run("resume"); strings.Contains(errs, "campaign list") {
		t.Fatalf("resume still meets the abandoned campaign:\n%s", errs)
	}
	byName := campaignsJSON(t, w)
	if c := byName["list"]; !c.Abandoned || c.Skipped != 3 || c.Pending+c.Deferred != 0 {
		t.Fatalf("abandoned campaign: %+v", c)
	}
	if c := byName["other"]; !c.Finished || c.Sent != 3 || c.LastExit == nil || *c.LastExit != 0 {
		t.Fatalf("other campaign: %+v", c)
	}
	w.mustRun(64, "campaign", "rm", "list") // no terminal, no --yes
	w.mustRun(0, "campaign", "rm", "list.csv", "--yes")
	if _, ok := campaignsJSON(t, w)["list"]; ok {
		t.Fatal("campaign list still listed after rm")
	}
}

type campaignJSON struct {
	Name      string `json:"campaign"`
	Finished  bool   `json:"finished"`
	Abandoned bool   `json:"abandoned"`
	LastExit  *int   `json:"last_exit"`
	Sent      int    `json:"sent"`
	Skipped   int    `json:"skipped"`
	Pending   int    `json:"pending"`
	Deferred  int    `json:"deferred"`
}

func campaignsJSON(t *testing.T, w *workspace) map[string]campaignJSON {
	t.Helper()
	out := map[string]campaignJSON{}
	for _, line := range strings.Split(strings.TrimSpace(w.mustRun(0, "campaigns", "--json")), "\n") {
		if line == "" {
			continue
		}
		var c campaignJSON
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		out[c.Name] = c
	}
	return out
}

// TestExcelListAndWording: a semicolon-separated list (Excel in many
// locales) sends; a doubled '@' is named as such; a campaign is found by
// its list's file name, and a miss names the campaigns there are.
func TestExcelListAndWording(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 0)
	w.write("semi.csv", "id;email;first_name;n\n1;ann@example.com;Ann;1\n2;bob@@example.com;Bob;2\n3;cy@example.com;Cy;3\n")
	out := w.mustRun(0, "validate", "semi.csv")
	if !strings.Contains(out, "2 '@' signs") {
		t.Errorf("validate does not say what is wrong with bob@@example.com:\n%s", out)
	}
	w.mustRun(0, "send", "semi.csv")
	if got := len(srv.ByRecipient()); got != 2 {
		t.Fatalf("relay got %d recipients, want 2", got)
	}
	if out := w.mustRun(0, "status", "--campaign", "semi.csv"); !strings.HasPrefix(out, "semi (finished)") {
		t.Errorf("status --campaign semi.csv: %s", out)
	}
	if _, errs, code := w.run("status", "--campaign", "semu"); code != 64 || !strings.Contains(errs, "there are: semi") {
		t.Errorf("status --campaign semu: exit %d\n%s", code, errs)
	}
}

// TestAbandonAndRemoveWaitForTheRun: a campaign being sent cannot be
// abandoned or removed under its run (exit 73, like a second send), and the
// run's records stay whole.
func TestAbandonAndRemoveWaitForTheRun(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 40)
	c, _, errb := w.command("send", "list.csv", "--rate", "20/s")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	for srv.Count() < 3 {
		time.Sleep(10 * time.Millisecond)
	}
	w.mustRun(73, "campaign", "abandon", "list")
	w.mustRun(73, "campaign", "rm", "list", "--yes")
	w.mustRun(73, "send", "list.csv") // refused: not a run of the campaign
	if err := c.Wait(); err != nil {
		t.Fatalf("send: %v\n%s", err, errb)
	}
	if c := campaignsJSON(t, w)["list"]; c.Sent != 40 || c.Abandoned || c.LastExit == nil || *c.LastExit != 0 {
		t.Fatalf("after the run: %+v, want all 40 sent, not abandoned, last exit 0", c)
	}
}

// TestTemplateToMustNameRecipient: a template whose To names someone else
// would show every recipient a stranger's address as theirs; no row of it
// is sent, and validate says why.
func TestTemplateToMustNameRecipient(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 3)
	w.write("to.tmpl", "From: news@example.com\nTo: someone-else@example.org\nSubject: hi\n\nbody\n")
	out, _, code := w.run("validate", "list.csv", "--template", "to.tmpl")
	if code != 65 || !strings.Contains(out, "must name the recipient") {
		t.Fatalf("validate: exit %d, want 65 naming the To problem\n%s", code, out)
	}
	w.mustRun(65, "send", "list.csv", "--template", "to.tmpl")
	if srv.Count() != 0 {
		t.Fatalf("relay got %d messages", srv.Count())
	}
	w.write("ok.tmpl", "From: news@example.com\nTo: {{.first_name}} <{{.email}}>\nSubject: hi\n\nbody\n")
	w.mustRun(0, "send", "list.csv", "--template", "ok.tmpl")
}
