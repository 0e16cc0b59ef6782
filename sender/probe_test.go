package sender_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/mailblast/mailblast/sender"
	"github.com/mailblast/mailblast/sender/sendertest"
)

// TestProbeRelay: the probe sees the extensions offered after STARTTLS and
// the certificate, logs in only when asked, and sends no transaction.
func TestProbeRelay(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{TLS: true, Username: "u", Password: "pw"})
	cfg := sender.Config{Settings: sender.Settings{Host: srv.Host(), Port: srv.Port(), Username: "u", Timeout: 10 * time.Second},
		TLSConfig: srv.ClientTLSConfig(), Password: "pw"}
	p, err := sender.ProbeRelay(context.Background(), cfg, false)
	if err != nil || p.TLSErr != nil {
		t.Fatalf("probe: %v %v", err, p.TLSErr)
	}
	if p.TLS == nil || len(p.TLS.PeerCertificates) == 0 {
		t.Error("no TLS state")
	}
	if _, ok := p.Ext["AUTH"]; !ok {
		t.Errorf("AUTH not seen after STARTTLS: %v", p.Ext)
	}
	if _, ok := p.Ext["STARTTLS"]; ok {
		t.Error("STARTTLS is offered before TLS only: the extensions are not the ones after TLS")
	}
	cfg.Password = "wrong"
	if p, err = sender.ProbeRelay(context.Background(), cfg, true); err != nil || p.AuthErr == nil || p.AuthErr.Code != 535 {
		t.Errorf("login with a wrong password: %v %+v", err, p.AuthErr)
	}
	cmds := srv.Commands()
	for _, verb := range []string{"MAIL", "RCPT", "DATA", "BDAT"} {
		if slices.Contains(cmds, verb) {
			t.Errorf("probe sent %s: %v", verb, cmds)
		}
	}
	if want := []string{"EHLO", "NOOP", "STARTTLS", "EHLO", "NOOP", "QUIT", "EHLO", "NOOP", "STARTTLS", "EHLO", "NOOP", "AUTH", "QUIT"}; !slices.Equal(cmds, want) {
		t.Errorf("transcript %v, want %v", cmds, want)
	}
}

// TestProbeUntrusted: a certificate that does not verify is reported as
// the probe's TLS failure, not as an error of the probe.
func TestProbeUntrusted(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{TLS: true})
	p, err := sender.ProbeRelay(context.Background(), sender.Config{Settings: sender.Settings{Host: srv.Host(), Port: srv.Port(), Timeout: 10 * time.Second}}, false)
	if err != nil || p.TLSErr == nil || p.TLSErr.Command != "TLS" {
		t.Fatalf("probe: %v, TLS error %v", err, p.TLSErr)
	}
}
