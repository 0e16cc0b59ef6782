package cmd

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mailblast/mailblast/listen"
	"github.com/mailblast/mailblast/safefile"
	"github.com/mailblast/mailblast/templates"
)

func newListenCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "listen",
		Short: "Serve one-click unsubscribes and the SES, SendGrid and Mailgun event webhooks",
		Long: `listen is a small HTTP server that records what comes back after the relay's
250 into the ledger and the suppression list:

  GET  /u/TOKEN            a confirmation page with a button; changes nothing
  POST /u/TOKEN            RFC 8058 one-click unsubscribe (List-Unsubscribe=One-Click)
  POST /webhooks/ses       Amazon SES notifications through SNS (signature verified)
  POST /webhooks/sendgrid  SendGrid's signed event webhook (ECDSA)
  POST /webhooks/mailgun   Mailgun webhooks (HMAC, fresh timestamp, unused token)

TOKEN is in the List-Unsubscribe link that unsubscribe.base_url and
unsubscribe.secret_file put in every message. A webhook whose key is not
configured answers 404. It logs one JSON line per request to stderr and stops
cleanly on SIGINT or SIGTERM. Put it behind your HTTPS reverse proxy: it
speaks plain HTTP and should listen on loopback.`,
		Example: `  mailblast listen --addr 127.0.0.1:8025`,
		Args:    noArgs,
		RunE:    runListen,
	}
	c.Flags().String("addr", "", "address to listen on, HOST:PORT (default listen.addr, 127.0.0.1:8025)")
	return c
}

func runListen(c *cobra.Command, _ []string) error {
	cfg, err := configOf(c)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	lc, err := listenConfig(cfg, log)
	if err != nil {
		return err
	}
	// The ledger is opened as the other ledger commands do, without the
	// campaign lock: cron sends go on beside listen.
	store, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer closeLedger(store)
	lc.NewApplier = func(ctx context.Context) (listen.Applier, error) {
		a, err := newApplier(ctx, cfg, store)
		if err != nil {
			return nil, ledgerError(err)
		}
		return a, nil
	}
	ln, err := net.Listen("tcp", cfg.Listen.Addr)
	if err != nil {
		return configErrorf("listen.addr %s: %w", cfg.Listen.Addr, err)
	}
	log.Info("listening", "addr", ln.Addr().String(), "one_click", lc.Secret != nil, "ses", len(lc.SNSCertHosts) > 0,
		"sendgrid", lc.SendGridKey != nil, "mailgun", lc.MailgunKey != nil)
	err = listen.Serve(c.Context(), ln, listen.New(lc))
	log.Info("stopped")
	return err
}

// listenConfig reads the keys listen needs: each missing or bad one names
// its setting (exit 78); one not set leaves its endpoint off.
func listenConfig(cfg *Config, log *slog.Logger) (listen.Config, error) {
	lc := listen.Config{Log: log, SNSCertHosts: cfg.Listen.SNSCertHosts, SNSTopicARNs: cfg.Listen.SNSTopicARNs}
	var err error
	if f := cfg.Message.Unsubscribe.SecretFile; f != "" {
		if lc.Secret, err = templates.ReadUnsubscribeSecret(f); err != nil {
			return lc, configErrorf("unsubscribe.secret_file: %w", err)
		}
	}
	if f := cfg.Listen.SendGridPublicKeyFile; f != "" {
		if lc.SendGridKey, err = readSendGridKey(f); err != nil {
			return lc, configErrorf("listen.sendgrid_public_key_file: %w", err)
		}
	}
	if f := cfg.Listen.MailgunSigningKeyFile; f != "" {
		if lc.MailgunKey, err = readKeyFile(f); err != nil {
			return lc, configErrorf("listen.mailgun_signing_key_file: %w", err)
		}
	}
	if len(lc.SNSCertHosts) > 0 && len(lc.SNSTopicARNs) == 0 {
		log.Warn("listen.sns_topic_arns is empty: SNS messages from any topic are taken (each still signed by SNS and matched by a Message-ID mailblast issued)")
	}
	return lc, nil
}

func readSendGridKey(path string) (*ecdsa.PublicKey, error) {
	b, err := safefile.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return listen.ParseSendGridKey(b)
}

// readKeyFile reads a text key, without the line end an editor adds.
func readKeyFile(path string) ([]byte, error) {
	b, err := safefile.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if k := strings.TrimSpace(string(b)); k != "" {
		return []byte(k), nil
	}
	return nil, fmt.Errorf("%s is empty", path)
}
