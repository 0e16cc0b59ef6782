package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/mailblast/mailblast/sender/sendertest"
)

// TestResumeTakesTodaysConfig is what a new user met: a first send failed
// for want of "tls: none"; with it added to mailblast.yaml, send went on and
// was interrupted; resume must then use the file as it is now, not the
// settings the first run stored. The relay's port given in the environment
// on resume wins likewise, and what nothing sets comes from the campaign.
func TestResumeTakesTodaysConfig(t *testing.T) {
	first := sendertest.NewServer(t, sendertest.Options{})
	second := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, first, 40)
	var env []string
	for _, e := range w.env {
		if !strings.HasPrefix(e, "MAILBLAST_SMTP_") {
			env = append(env, e)
		}
	}
	w.env = env
	yaml := fmt.Sprintf("smtp:\n  host: %s\n  port: %d\n  timeout: 5s\n  connect_attempts: 1\n", first.Host(), first.Port())
	w.write("mailblast.yaml", yaml)
	w.mustRun(78, "send", "list.csv") // starttls by default; the relay has none

	w.write("mailblast.yaml", yaml+"  tls: none\n")
	code := w.signalWhen(syscall.SIGINT, func() bool { return first.Count() >= 5 },
		"send", "list.csv", "--rate", "20/s", "--connections", "1")
	if code != 130 {
		t.Fatalf("interrupted send: exit %d, want 130", code)
	}
	sentFirst := first.Count()

	w.env = append(w.env, fmt.Sprintf("MAILBLAST_SMTP_PORT=%d", second.Port()))
	w.mustRun(0, "resume")
	if got := sentFirst + second.Count(); got != 40 || second.Count() == 0 {
		t.Fatalf("first relay %d, second %d: want 40 in all, the rest on the port the environment gives", sentFirst, second.Count())
	}
	if _, err := os.Stat(filepath.Join(w.dir, "state", "ledger.db")); err != nil {
		t.Fatal(err)
	}
}

// TestResumeNeverCarriesCredentials: a first run logged in as bob (in
// clear, allowed then) to a relay that was down. The config now names
// another relay, with no username: resume must not log in there as bob
// with today's password; who logs in comes from today's configuration.
func TestResumeNeverCarriesCredentials(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 5)
	var env []string
	for _, e := range w.env {
		if !strings.HasPrefix(e, "MAILBLAST_SMTP_") {
			env = append(env, e)
		}
	}
	env = append(env, "MAILBLAST_SMTP_PASSWORD=hunter2secret")
	w.env = env
	w.write("mailblast.yaml", "smtp:\n  host: 127.0.0.1\n  port: 1\n  tls: none\n  username: bob\n  allow_insecure_auth: true\n  connect_attempts: 1\n")
	w.mustRun(69, "send", "list.csv")
	w.write("mailblast.yaml", fmt.Sprintf("smtp:\n  host: %s\n  port: %d\n  tls: none\n", srv.Host(), srv.Port()))
	w.mustRun(0, "resume")
	if srv.Count() != 5 {
		t.Fatalf("relay got %d messages, want 5", srv.Count())
	}
}

// TestMaxAgeWithinARun: a run that stays for retries gives a deferred row
// up once retry.max_age has passed, as the next run would, instead of
// retrying it to the end of --retry-wait and exiting 75.
func TestMaxAgeWithinARun(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{Faults: sendertest.Faults{Rcpt: func(string, int) *smtp.SMTPError {
		return &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 1}, Message: "try later"}
	}}})
	w := forServer(t, srv, 2)
	w.env = append(w.env, "MAILBLAST_RETRY_SCHEDULE=1s", "MAILBLAST_RETRY_MAX_AGE=3s")
	w.mustRun(0, "send", "list.csv", "--retry-wait", "20s")
	if st := w.status(); st.Failed != 2 {
		t.Fatalf("status %+v: want both failed (expired)", st)
	}
}

// TestValidateWarnsWhatSendRefuses: a username without a password is what
// send refuses before connecting (exit 78); validate says so too.
func TestValidateWarnsWhatSendRefuses(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 2)
	w.env = append(w.env, "MAILBLAST_SMTP_USERNAME=bob")
	_, errs, code := w.run("validate", "list.csv")
	if code != 0 || !strings.Contains(errs, "send would stop here (exit 78)") {
		t.Fatalf("validate: exit %d\n%s", code, errs)
	}
	w.mustRun(78, "send", "list.csv")
}

// TestResumeStoredRelaysNeverInClear: a campaign started with relays:
// and allow_insecure_auth. Today's file names one relay, without either:
// resume sends there, and the stored relay (which would have taken the
// password in clear) gets nothing.
func TestResumeStoredRelaysNeverInClear(t *testing.T) {
	stored := sendertest.NewServer(t, sendertest.Options{})
	today := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, today, 3)
	var env []string
	for _, e := range w.env {
		if !strings.HasPrefix(e, "MAILBLAST_SMTP_") {
			env = append(env, e)
		}
	}
	env = append(env, "PW_A=secret")
	w.env = env
	w.write("mailblast.yaml", "smtp:\n  host: 127.0.0.1\n  tls: none\n  allow_insecure_auth: true\n  connect_attempts: 1\n"+
		"  relays: [{name: a, host: 127.0.0.1, port: 1, username: ua, password_env: PW_A}]\n")
	w.mustRun(69, "send", "list.csv")
	w.write("mailblast.yaml", fmt.Sprintf("smtp:\n  host: %s\n  port: %d\n  tls: none\n", today.Host(), today.Port()))
	w.mustRun(0, "resume")
	if today.Count() != 3 || stored.Count() != 0 {
		t.Fatalf("today's relay got %d, the stored one %d; want 3 and 0", today.Count(), stored.Count())
	}
}
