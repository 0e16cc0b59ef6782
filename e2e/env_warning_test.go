package e2e

import (
	"strings"
	"testing"

	"github.com/mailblast/mailblast/sender/sendertest"
)

// A misspelt MAILBLAST_* variable is named once per run, not once per
// time the configuration is read (send and resume read it for the
// metrics file too, and printed the warning twice).
func TestUnknownEnvWarnedOnce(t *testing.T) {
	s := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, s, 3)
	w.env = append(w.env, "MAILBLAST_SMTP_CONECTIONS=2")
	for _, args := range [][]string{{"send", "list.csv"}, {"resume"}, {"status"}} {
		_, stderr, _ := w.run(args...)
		if n := strings.Count(stderr, "MAILBLAST_SMTP_CONECTIONS is not a setting"); n != 1 {
			t.Errorf("%v: warned %d times, want once:\n%s", args, n, stderr)
		}
	}
}
