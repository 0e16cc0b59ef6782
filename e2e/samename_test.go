package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailblast/mailblast/sender/sendertest"
)

// Two projects that both keep init's list.csv share one state directory
// and so one default campaign name, "list". The second is refused (never
// merged into the first), and told which list holds the name and what to
// do, not merely that "the list changed".
func TestSameDefaultNameOtherProject(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 3)
	w.mustRun(0, "send", "list.csv")
	other := filepath.Join(w.dir, "other")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	w.write("other/list.csv", "email\nsomeone@example.net\n")
	_, stderr, code := w.run("send", "other/list.csv")
	if code != 65 {
		t.Fatalf("exit %d, want 65\n%s", code, stderr)
	}
	for _, want := range []string{filepath.Join(w.dir, "list.csv"), filepath.Join(other, "list.csv"), "--campaign NAME"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("message lacks %q:\n%s", want, stderr)
		}
	}
	if got := srv.Count(); got != 3 {
		t.Errorf("relay got %d messages, want the first campaign's 3 only", got)
	}
}
