package cmd

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/mailblast/mailblast/campaign"
	"github.com/mailblast/mailblast/templates"
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
	// Timeout ends a pass that takes longer, so a server that never stops
	// answering cannot hold the state lock.
	Timeout time.Duration `mapstructure:"timeout"`
}

// checkIMAP validates feedback.imap.*. What only `feedback fetch` needs
// (host, username, password) is required when it runs, not by every
// command.
func (c *Config) checkIMAP() []error {
	m := c.Feedback.IMAP
	_, tlsErr := parseTLS("feedback.imap.tls", m.TLS)
	errs := nonNil(tlsErr, between("feedback.imap.port", m.Port, 0, 65535), positive("feedback.imap.timeout", m.Timeout))
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
	SNSTopicARNs          []string `mapstructure:"sns_topic_arns"`
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
		"feedback.imap.mailbox": "INBOX", "feedback.imap.processed_mailbox": "mailblast-processed", "feedback.imap.timeout": 10 * time.Minute,
		"listen.addr": "127.0.0.1:8025", "listen.sns_cert_hosts": []string{"sns.*.amazonaws.com"},
		"listen.sns_topic_arns":           []string{},
		"listen.sendgrid_public_key_file": "", "listen.mailgun_signing_key_file": "",
	}
}

// maxReturnLocal keeps local+TOKEN within RFC 5321's 64 octets: a token is
// at most 28 characters (campaign and row as varints, an 80-bit MAC) for
// up to 2 million campaigns of up to 268 million rows; 30 leaves slack.
const maxReturnLocal = 64 - 1 - 30

// checkCoreFeedback validates return_path and the soft-bounce rule.
func (c *Config) checkCoreFeedback() []error {
	errs := nonNil(
		between("feedback.soft_bounce_limit", c.Feedback.SoftBounceLimit, 1, 1000),
		positive("feedback.soft_bounce_window", c.Feedback.SoftBounceWindow),
	)
	return append(errs, checkReturnPath(c.ReturnPath)...)
}

// checkReturnPath validates return_path: "" or a bare ASCII address whose
// local part leaves room for +TOKEN.
func checkReturnPath(rp string) []error {
	if rp == "" {
		return nil
	}
	if strings.ContainsAny(rp, "\r\n") {
		return []error{fmt.Errorf("%s holds a line break; use a bare address like bounces@example.com", keyName("return_path"))}
	}
	a, err := campaign.ParseAddress(rp)
	if err != nil || a.UTF8 || a.ASCII != rp {
		return []error{fmt.Errorf("%s is %q; use a bare ASCII address like bounces@example.com", keyName("return_path"), rp)}
	}
	if local := rp[:strings.LastIndexByte(rp, '@')]; len(local) > maxReturnLocal {
		return []error{fmt.Errorf("%s: the local part %q is longer than %d characters, which leaves no room for +TOKEN", keyName("return_path"), local, maxReturnLocal)}
	}
	return nil
}

// checkListen validates the signed one-click link (unsubscribe.base_url,
// unsubscribe.secret_file) and listen.addr. The secret is read here so a
// short or missing one stops every command at once (exit 78), before a
// campaign is created with links nobody can verify.
func (c *Config) checkListen() []error {
	var errs []error
	u := c.Message.Unsubscribe
	if u.BaseURL != "" && u.URL != "" {
		errs = append(errs, errors.New("unsubscribe.url and unsubscribe.base_url are both set; keep one: base_url makes mailblast's own signed one-click link, url your own"))
	}
	if u.BaseURL != "" {
		if err := templates.CheckBaseURL(u.BaseURL); err != nil {
			errs = append(errs, fmt.Errorf("unsubscribe.base_url: %w", err))
		}
		if u.SecretFile == "" {
			errs = append(errs, errors.New("unsubscribe.base_url needs unsubscribe.secret_file: a file of at least 32 random bytes (head -c 32 /dev/urandom | base64 > FILE)"))
		} else if _, err := templates.ReadUnsubscribeSecret(u.SecretFile); err != nil {
			errs = append(errs, fmt.Errorf("unsubscribe.secret_file: %w", err))
		}
	}
	if _, _, err := net.SplitHostPort(c.Listen.Addr); err != nil {
		errs = append(errs, fmt.Errorf("listen.addr %q: want HOST:PORT, like 127.0.0.1:8025", c.Listen.Addr))
	}
	return errs
}
