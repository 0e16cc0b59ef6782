package cmd

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// FeedbackConfig is how reports coming back after the 250 are read
// (`feedback import`, `feedback fetch`) and when soft bounces suppress.
type FeedbackConfig struct {
	SoftBounceLimit  int           `mapstructure:"soft_bounce_limit"`
	SoftBounceWindow time.Duration `mapstructure:"soft_bounce_window"`
	IMAP             IMAPConfig    `mapstructure:"imap"`
}

// IMAPConfig is the mailbox `feedback fetch` reads.
type IMAPConfig struct {
	Host             string `mapstructure:"host"`
	Port             int    `mapstructure:"port"`
	TLS              string `mapstructure:"tls"`
	CAFile           string `mapstructure:"ca_file"`
	Username         string `mapstructure:"username"`
	Password         string `mapstructure:"password"`
	PasswordFile     string `mapstructure:"password_file"`
	Mailbox          string `mapstructure:"mailbox"`
	ProcessedMailbox string `mapstructure:"processed_mailbox"`
}

// checkIMAP validates feedback.imap.*. What only `feedback fetch` needs
// (host, username, password) is required when it runs, not by every
// command.
func (c *Config) checkIMAP() []error {
	m := c.Feedback.IMAP
	_, tlsErr := parseTLS("feedback.imap.tls", m.TLS)
	errs := nonNil(tlsErr, between("feedback.imap.port", m.Port, 0, 65535))
	if m.Password != "" && m.PasswordFile != "" {
		errs = append(errs, errors.New("feedback.imap.password and feedback.imap.password_file are both set; use one"))
	}
	if m.Mailbox == "" {
		errs = append(errs, errors.New("feedback.imap.mailbox is empty; name the mailbox the reports arrive in, like INBOX"))
	}
	if m.ProcessedMailbox == "" || strings.EqualFold(m.ProcessedMailbox, m.Mailbox) {
		errs = append(errs, fmt.Errorf("feedback.imap.processed_mailbox is %q; name a mailbox other than feedback.imap.mailbox, like mailblast-processed", m.ProcessedMailbox))
	}
	if m.CAFile != "" {
		if _, err := tlsWithCA("feedback.imap.ca_file", m.CAFile); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// ListenConfig is the HTTP server of `mailblast listen`: one-click
// unsubscribes and the relays' event webhooks.
type ListenConfig struct {
	Addr                  string   `mapstructure:"addr"`
	SNSCertHosts          []string `mapstructure:"sns_cert_hosts"`
	SendGridPublicKeyFile string   `mapstructure:"sendgrid_public_key_file"`
	MailgunSigningKeyFile string   `mapstructure:"mailgun_signing_key_file"`
}

// feedbackDefaults are the defaults of return_path, feedback.*, listen.*
// and the one-click unsubscribe.* keys.
func feedbackDefaults() map[string]any {
	return map[string]any{
		"return_path":                "",
		"feedback.soft_bounce_limit": 3, "feedback.soft_bounce_window": 30 * 24 * time.Hour,
		"feedback.imap.host": "", "feedback.imap.port": 0, "feedback.imap.tls": "tls", "feedback.imap.ca_file": "",
		"feedback.imap.username": "", "feedback.imap.password": "", "feedback.imap.password_file": "",
		"feedback.imap.mailbox": "INBOX", "feedback.imap.processed_mailbox": "mailblast-processed",
		"listen.addr": "127.0.0.1:8025", "listen.sns_cert_hosts": []string{"sns.*.amazonaws.com"},
		"listen.sendgrid_public_key_file": "", "listen.mailgun_signing_key_file": "",
		"unsubscribe.base_url": "", "unsubscribe.secret_file": "",
	}
}
