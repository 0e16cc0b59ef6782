package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mailblast/mailblast/sender/sendertest"
)

// Send windows are tested on the real clock: the binary has no fake one.
// Every window is chosen relative to now, with an hour or more between
// now and any edge, except TestWindowResumeInside, which waits seconds
// for a not_before to pass.

// windowStatus is status --json's view of a campaign with a send window.
type windowStatus struct {
	status
	NextWindow *time.Time `json:"next_window"`
}

func (w *workspace) windowStatus() windowStatus {
	w.t.Helper()
	out := w.mustRun(0, "status", "--json")
	var s windowStatus
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		w.t.Fatalf("status --json: %v\n%s", err, out)
	}
	return s
}

// TestWindowNotBeforeFuture: with --not-before an hour ahead nothing is
// sent and no connection is even opened; the run exits 75, every row
// waits pending (not failed, not skipped) and status says when it opens.
// A local time is read in the campaign's timezone.
func TestWindowNotBeforeFuture(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 5)
	nb := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	_, stderr, code := w.run("send", "list.csv", "--not-before", nb.Format(time.RFC3339))
	if code != 75 {
		t.Fatalf("exit %d, want 75\n%s", code, stderr)
	}
	if srv.Count() != 0 || srv.Connections() != 0 {
		t.Fatalf("before not_before: %d messages on %d connections", srv.Count(), srv.Connections())
	}
	if !strings.Contains(stderr, "due "+nb.Local().Format(time.RFC3339)) {
		t.Errorf("the run does not say when it goes on:\n%s", stderr)
	}
	s := w.windowStatus()
	if s.Pending != 5 || s.Sent+s.Failed+s.Skipped+s.Deferred != 0 || s.Finished {
		t.Errorf("status: %+v, want 5 pending", s.status)
	}
	if s.NextWindow == nil || !s.NextWindow.Equal(nb) {
		t.Errorf("status next_window %v, want %v", s.NextWindow, nb)
	}
	if out := w.mustRun(0, "status"); !strings.Contains(out, "opens "+nb.Format(time.RFC3339)) {
		t.Errorf("status does not say when the window opens:\n%s", out)
	}
	for addr, r := range w.report() {
		if r.State != "pending" {
			t.Errorf("%s: %s, want pending", addr, r.State)
		}
	}

	// The same hour as a local time in Tokyo (UTC+9, no DST).
	local := nb.In(time.FixedZone("", 9*3600)).Format("2006-01-02 15:04:05")
	w.env = append(w.env, "MAILBLAST_TIMEZONE=Asia/Tokyo")
	w.write("list2.csv", "email,first_name,n\nlocal@example.com,L,9\n")
	w.mustRun(75, "send", "list2.csv", "--not-before", local)
	out := w.mustRun(0, "status", "--campaign", "list2", "--json")
	var s2 windowStatus
	if err := json.Unmarshal([]byte(out), &s2); err != nil || s2.NextWindow == nil || !s2.NextWindow.Equal(nb) {
		t.Errorf("--not-before %q in Asia/Tokyo: next_window %v (%v), want %v", local, s2.NextWindow, err, nb)
	}
	if srv.Count() != 0 {
		t.Errorf("%d messages sent before not_before", srv.Count())
	}
}

// etcZone is the Etc/GMT zone k hours east of UTC (POSIX signs: Etc/GMT-3
// is UTC+3), for k from -12 to 14.
func etcZone(k int) string {
	switch {
	case k == 0:
		return "Etc/GMT"
	case k > 0:
		return fmt.Sprintf("Etc/GMT-%d", k)
	}
	return fmt.Sprintf("Etc/GMT+%d", -k)
}

// offsetFor is the offset in hours, within Etc/GMT's range, of a zone
// where it is now hour o'clock.
func offsetFor(now time.Time, hour int) int {
	k := ((hour-now.Hour())%24 + 24) % 24
	if k > 14 {
		k -= 24
	}
	return k
}

// TestWindowPerRowZones: with window 09:00-12:00 and each row's zone in
// column tz, exactly the rows for which it is now 10 o'clock are sent
// (an empty cell takes the campaign's timezone); a row at 14:00 and one
// at 07:00 wait pending, status names the earlier opening (09:00 where it
// is 07:00 now), and a resume from cron sends nothing more.
func TestWindowPerRowZones(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 0)
	now := time.Now().UTC()
	in, late, early := offsetFor(now, 10), offsetFor(now, 14), offsetFor(now, 7)
	w.write("list.csv", "email,first_name,n,tz\n"+
		"user1@example.com,A,1,"+etcZone(in)+"\n"+
		"user2@example.com,B,2,"+etcZone(late)+"\n"+
		"user3@example.com,C,3,\n"+
		"user4@example.com,D,4,"+etcZone(early)+"\n"+
		"user5@example.com,E,5, "+etcZone(in)+" \n")
	w.env = append(w.env, "MAILBLAST_WINDOW=09:00-12:00", "MAILBLAST_TIMEZONE_COLUMN=tz", "MAILBLAST_TIMEZONE="+etcZone(in))
	_, stderr, code := w.run("send", "list.csv")
	if code != 75 {
		t.Fatalf("exit %d, want 75\n%s", code, stderr)
	}
	got := srv.ByRecipient()
	for _, addr := range []string{"user1@example.com", "user3@example.com", "user5@example.com"} {
		if len(got[addr]) != 1 {
			t.Errorf("%s (inside its window): %d copies, want 1", addr, len(got[addr]))
		}
	}
	if len(got) != 3 {
		t.Errorf("relay got %d recipients, want 3: %v", len(got), got)
	}
	rep := w.report()
	for _, addr := range []string{"user2@example.com", "user4@example.com"} {
		if r := rep[addr]; r.State != "pending" || r.Attempts != 0 {
			t.Errorf("%s (outside its window): %+v, want pending, never attempted", addr, r)
		}
	}
	zone := time.FixedZone("", early*3600)
	y, m, d := now.In(zone).Date()
	opens := time.Date(y, m, d, 9, 0, 0, 0, zone)
	if s := w.windowStatus(); s.Sent != 3 || s.Pending != 2 || s.NextWindow == nil || !s.NextWindow.Equal(opens) {
		t.Errorf("status %+v next_window %v, want 3 sent, 2 pending, next %v", s.status, s.NextWindow, opens.UTC())
	}
	w.mustRun(75, "resume")
	if srv.Count() != 3 {
		t.Errorf("a resume outside the other rows' windows sent: %d messages in all, want 3", srv.Count())
	}
}

// TestWindowUnknownZone: a zone the database lacks is the row's error at
// import, naming row and column (exit 65, as for the list's own errors);
// nothing is sent and no campaign is left in the ledger. validate finds
// the same row. A list without
// the zone column is refused the same way; a bad not_before is a
// configuration error (78) naming its key.
func TestWindowUnknownZone(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 0)
	w.write("list.csv", "email,first_name,n,tz\nuser1@example.com,A,1,Europe/Berlin\nuser2@example.com,B,2,Mars/Olympus\n")
	w.env = append(w.env, "MAILBLAST_WINDOW=09:00-17:00", "MAILBLAST_TIMEZONE_COLUMN=tz")
	_, stderr, code := w.run("send", "list.csv")
	if code != 65 || !strings.Contains(stderr, `row 3, column "tz"`) || !strings.Contains(stderr, `unknown time zone "Mars/Olympus"`) {
		t.Fatalf("exit %d, want 65 naming row 3 and column tz:\n%s", code, stderr)
	}
	if out := w.mustRun(0, "status", "--json"); strings.TrimSpace(out) != "" || srv.Count() != 0 {
		t.Errorf("ledger touched or mail sent (%d): %s", srv.Count(), out)
	}
	out, stderr, code := w.run("validate", "list.csv")
	if all := out + stderr; code != 65 || !strings.Contains(all, `row 3, column "tz"`) || strings.Contains(all, "row 2,") {
		t.Errorf("validate: exit %d, want 65 naming row 3 (and not row 2):\n%s", code, all)
	}

	w.write("list2.csv", "email,first_name,n\nuser1@example.com,A,1\n")
	if _, stderr, code := w.run("send", "list2.csv"); code != 65 || !strings.Contains(stderr, `column "tz"`) {
		t.Errorf("no tz column: exit %d, want 65 naming the column:\n%s", code, stderr)
	}
	if _, stderr, code := w.run("send", "list2.csv", "--not-before", "tomorrow"); code != 78 || !strings.Contains(stderr, "not_before (--not-before)") {
		t.Errorf("--not-before tomorrow: exit %d, want 78 naming the key:\n%s", code, stderr)
	}
}

// TestWindowResumeInside: send before not_before sends nothing (exit 75);
// once it has passed, a resume (as from cron) sends every row, once.
func TestWindowResumeInside(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 20)
	nb := time.Now().Add(10 * time.Second).UTC().Truncate(time.Second).Add(time.Second)
	// --retry-wait 0s: send does not stay for the opening (it would, as
	// it stays for deferred rows due within retry.wait).
	w.mustRun(75, "send", "list.csv", "--not-before", nb.Format(time.RFC3339), "--retry-wait", "0s")
	if srv.Count() != 0 {
		t.Fatalf("%d messages sent before not_before", srv.Count())
	}
	if s := w.windowStatus(); s.Pending != 20 || s.NextWindow == nil || !s.NextWindow.Equal(nb) {
		t.Fatalf("status %+v next_window %v, want 20 pending until %v", s.status, s.NextWindow, nb)
	}
	time.Sleep(time.Until(nb) + 200*time.Millisecond)
	w.mustRun(0, "resume")
	if dups := checkDelivered(t, w, srv.ByRecipient(), 20); len(dups) > 0 {
		t.Errorf("duplicates: %v", dups)
	}
	if s := w.windowStatus(); !s.Finished || s.NextWindow != nil {
		t.Errorf("after the resume: %+v next_window %v", s.status, s.NextWindow)
	}
}
