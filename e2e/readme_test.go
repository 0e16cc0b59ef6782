package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailblast/mailblast/sender/sendertest"
)

// readmeCommands are the lines of README.md's code blocks that start with
// "mailblast ", in order.
func readmeCommands(t *testing.T) []string {
	f, err := os.Open(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	inBlock := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			inBlock = !inBlock
			continue
		}
		if inBlock && strings.HasPrefix(line, "mailblast ") {
			out = append(out, line)
		}
	}
	return out
}

// TestReadmeExamplesRun runs every "mailblast ..." line of the README's
// code blocks, as written (comments included, through sh), in a directory
// with a list.csv and a message.tmpl and a relay to send to. Each must
// exit 0: an example that crashes or is refused is a broken promise.
func TestReadmeExamplesRun(t *testing.T) {
	cmds := readmeCommands(t)
	if len(cmds) < 8 {
		t.Fatalf("found only %d examples in README.md", len(cmds))
	}
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 10)
	w.env = append(w.env, "PATH="+filepath.Dir(binary)+":/usr/bin:/bin")
	for _, line := range cmds {
		c := exec.Command("sh", "-c", line)
		c.Dir, c.Env = w.dir, w.env
		out, err := c.CombinedOutput()
		if err != nil {
			t.Errorf("README example %q: %v\n%s", line, err, out)
		}
	}
}
