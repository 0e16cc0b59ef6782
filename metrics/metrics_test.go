package metrics

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/sender"
)

// TestLoop: a long run rewrites the file while it goes on, so the
// collector sees the run in progress.
func TestLoop(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.prom")
	f := New(path, time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.Loop(ctx, 10*time.Millisecond) }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && strings.Contains(string(b), "mailblast_run_in_progress 1") {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	b, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(b), "mailblast_run_in_progress 1") || strings.Contains(string(b), "exit_code") {
		t.Fatalf("during the run: %v\n%s", err, b)
	}
	if err := f.Finish(75, time.Now()); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), "mailblast_last_run_exit_code 75") {
		t.Errorf("after the run:\n%s", b)
	}
}

func TestReplyLabel(t *testing.T) {
	for _, c := range []struct {
		state ledger.State
		err   *sender.Error
		want  string
	}{
		{ledger.Sent, nil, "2xx"},
		{ledger.Deferred, &sender.Error{Code: 421, Enhanced: "4.7.28"}, "4.7.28"},
		{ledger.Failed, &sender.Error{Code: 550, Enhanced: "5.1.1"}, "5.1.1"},
		{ledger.Failed, &sender.Error{Code: 554, Enhanced: "5.9.12345"}, "5xx"},
		{ledger.Deferred, &sender.Error{Code: 451}, "4xx"},
		{ledger.Deferred, &sender.Error{Code: 0, Message: "connection refused"}, "none"},
		{ledger.Deferred, &sender.Error{Code: 999}, "none"},
	} {
		if got := ReplyLabel(c.state, c.err); got != c.want {
			t.Errorf("ReplyLabel(%s, %+v) = %q, want %q", c.state, c.err, got, c.want)
		}
	}
}
