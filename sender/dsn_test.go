package sender_test

import (
	"context"
	"testing"

	"github.com/mailblast/mailblast/sender"
	"github.com/mailblast/mailblast/sender/sendertest"
)

// TestDSNParameters: where the relay offers DSN, an envelope with EnvID
// goes with ENVID on MAIL FROM and ORCPT=rfc822;ADDR on RCPT TO, in every
// kind of transaction (go-smtp's, and the hand-written pipelined ones),
// xtext-encoded; without DSN, or without EnvID, neither goes.
func TestDSNParameters(t *testing.T) {
	eachTransaction(t, func(t *testing.T) {
		for _, dsn := range []bool{true, false} {
			s := sendertest.NewServer(t, sendertest.Options{DSN: dsn})
			envs := []*sender.Envelope{
				{ID: 1, From: "bounces+tok1@example.com", To: "a+b=c@example.com", EnvID: "tok1", Data: []byte("Subject: 1\r\n\r\nx\r\n")},
				{ID: 2, From: "news@example.com", To: "plain@example.com", Data: []byte("Subject: 2\r\n\r\nx\r\n")},
			}
			in := make(chan *sender.Envelope, len(envs))
			for _, e := range envs {
				in <- e
			}
			close(in)
			p, err := sender.NewPool(config(s, sender.NoTLS))
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if err := p.Run(ctx, ctx, in, func(r sender.Result) {
				if r.Err != nil {
					t.Errorf("envelope %d: %v", r.Env.ID, r.Err)
				}
			}); err != nil {
				t.Fatal(err)
			}
			for _, m := range s.Messages() {
				wantEnv, wantOrcpt := "", ""
				if dsn && m.To[0] == "a+b=c@example.com" {
					wantEnv, wantOrcpt = "tok1", "RFC822;a+b=c@example.com"
				}
				if m.EnvID != wantEnv || len(m.ORCPT) != 1 || m.ORCPT[0] != wantOrcpt {
					t.Errorf("DSN %v, to %s: ENVID %q ORCPT %q, want %q %q", dsn, m.To[0], m.EnvID, m.ORCPT, wantEnv, wantOrcpt)
				}
			}
			if len(s.Messages()) != 2 {
				t.Errorf("%d messages arrived", len(s.Messages()))
			}
		}
	})
}
