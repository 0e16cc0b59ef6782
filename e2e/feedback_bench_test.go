package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailblast/mailblast/feedback"
	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/ledger/storetest"
)

// TestBenchFeedbackMaildir is the figure end to end: a Maildir of
// real-Postfix-shaped DSNs parsed and applied by the real binary against
// a ledger of a million sent recipients. Minutes long, so only with
// MAILBLAST_BENCH_FEEDBACK=1 (sizes: MAILBLAST_BENCH_ROWS, _DSNS):
//
//	MAILBLAST_BENCH_FEEDBACK=1 go test -run TestBenchFeedbackMaildir -v -timeout 30m ./e2e/
//
// The DSNs are feedback/testdata/postfix-hard.eml (written by Postfix's
// bounce daemon) with its VERP token, recipient and returned Message-ID
// replaced: 90% name a sent row by a valid token, 10% are forged (a token
// and Message-ID mailblast never issued).
func TestBenchFeedbackMaildir(t *testing.T) {
	if os.Getenv("MAILBLAST_BENCH_FEEDBACK") == "" {
		t.Skip("set MAILBLAST_BENCH_FEEDBACK=1 to run the benchmark")
	}
	rows, dsns := storetest.BenchSize("MAILBLAST_BENCH_ROWS", 1_000_000), storetest.BenchSize("MAILBLAST_BENCH_DSNS", 100_000)
	w := newWorkspace(t, "127.0.0.1", 1, 1)
	t0 := time.Now()
	id, key := benchSentLedger(t, filepath.Join(w.dir, "state", "ledger.db"), rows)
	t.Logf("ledger of %d sent recipients built in %v", rows, time.Since(t0).Round(time.Second))
	box := benchMaildir(t, filepath.Join(w.dir, "Maildir"), id, key, rows, dsns)
	c, stdout, stderr := w.command("feedback", "import", box, "--json")
	t1 := time.Now()
	if err := c.Run(); err != nil {
		t.Fatalf("feedback import: %v\n%s", err, stderr)
	}
	el := time.Since(t1)
	rss := c.ProcessState.SysUsage().(*syscall.Rusage).Maxrss >> 10
	var sum feedback.Summary
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	t.Logf("feedback import: %d DSNs in %v: %.0f DSNs/s parsed and applied; peak RSS %d MB; %+v",
		dsns, el.Round(time.Millisecond), float64(dsns)/el.Seconds(), rss, sum)
	if sum.Messages != dsns || sum.Unmatched < dsns/20 || sum.HardBounces < dsns/2 {
		t.Errorf("summary %+v: not the mix that was built", sum)
	}
}

// benchSentLedger makes the ledger at path with a campaign of rows sent
// recipients, and returns its ID and the VERP key.
func benchSentLedger(t *testing.T, path string, rows int) (int64, []byte) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := ledger.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id := storetest.SentCampaign(t, s, "bench", rows)
	key, err := feedback.VERPKey(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return id, key
}

// benchMaildir writes n DSNs into dir/new from the real Postfix sample.
func benchMaildir(t *testing.T, dir string, id int64, key []byte, rows, n int) string {
	sample, err := os.ReadFile(filepath.Join("..", "feedback", "testdata", "postfix-hard.eml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"new", "cur", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	rnd := rand.New(rand.NewPCG(3, 4))
	for i := range n {
		row := 2 + rnd.IntN(rows)
		tok := feedback.SignToken(key, feedback.PurposeVERP, feedback.Target{CampaignID: id, Row: row})
		mid := storetest.MessageID(id, row)
		if i%10 == 9 { // forged: nothing mailblast issued
			tok, mid = fmt.Sprintf("forged%dx", i), fmt.Sprintf("%024x.%d@example.com", i, row)
		}
		msg := strings.NewReplacer("TOKENX", tok, "gone1@example.net", fmt.Sprintf("user%d@example.com", row),
			"bouncer-test-0-1796186535278370553@mailblast.test", mid,
			"20261202044215.9B8AC9F27C4@bouncer.test", fmt.Sprintf("bench%d@bouncer.test", i)).Replace(string(sample))
		if err := os.WriteFile(filepath.Join(dir, "new", fmt.Sprintf("%d.bench:2,", i)), []byte(msg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
