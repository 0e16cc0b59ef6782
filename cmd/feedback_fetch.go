package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/mailblast/mailblast/campaign"
	"github.com/mailblast/mailblast/feedback"
	"github.com/mailblast/mailblast/feedback/imapfetch"
	"github.com/mailblast/mailblast/ledger"
)

type feedbackFetchOptions struct {
	json   bool
	rescan bool
}

// feedbackFetchCmd is `mailblast feedback fetch`; the feedback command
// adds it.
func feedbackFetchCmd() *cobra.Command {
	opts := &feedbackFetchOptions{}
	c := &cobra.Command{
		Use:   "fetch",
		Short: "Read the bounce mailbox over IMAP once: apply its reports, move them aside (for cron)",
		Long: `Fetch logs in to the IMAP mailbox named by feedback.imap.* and reads the
messages that arrived since its last pass (it remembers each mailbox's
UIDVALIDITY and highest UID in feedback-fetch.json in the state directory).
Each bounce (DSN) and complaint (ARF) that matches a recipient mailblast sent
to is applied to the ledger, and its message is moved to
feedback.imap.processed_mailbox, created if missing. Every other message
(auto-replies, people's replies, reports that match nobody, unreadable mail)
stays where it is, not even marked as read. Nothing is ever deleted.

The password goes only over TLS (feedback.imap.tls: tls, the default, or
starttls), unless feedback.imap.tls is none. Set it with
MAILBLAST_FEEDBACK_IMAP_PASSWORD or feedback.imap.password_file.`,
		Example: `  MAILBLAST_FEEDBACK_IMAP_HOST=imap.example.com MAILBLAST_FEEDBACK_IMAP_USERNAME=bounces \
    MAILBLAST_FEEDBACK_IMAP_PASSWORD_FILE=/etc/mailblast/imap-password mailblast feedback fetch
  */10 * * * * /usr/local/bin/mailblast feedback fetch --json >> /var/log/mailblast-fetch.log`,
		Args: noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			cfg, err := configOf(c)
			if err != nil {
				return err
			}
			return runFeedbackFetch(c.Context(), cfg, opts, streamsOf(c))
		},
	}
	c.Flags().BoolVar(&opts.json, "json", false, "print the summary as JSON")
	c.Flags().BoolVar(&opts.rescan, "rescan", false, "examine every message of the mailbox again, not only new ones")
	return c
}

// fetchSummary is what `feedback fetch` prints.
type fetchSummary struct {
	Mailbox   string `json:"mailbox"`
	Processed string `json:"processed_mailbox"`
	imapfetch.Counts
	Moved int `json:"moved"`
	Kept  int `json:"kept"` // acted on, but the server can move nothing safely
}

func runFeedbackFetch(ctx context.Context, cfg *Config, opts *feedbackFetchOptions, io streams) error {
	ic, err := cfg.imapConfig()
	if err != nil {
		return err
	}
	st, err := imapfetch.LoadState(filepath.Join(cfg.StateDir, "feedback-fetch.json"))
	if err != nil {
		return err
	}
	unlock, err := st.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	sess, err := imapfetch.Dial(ctx, ic)
	if err != nil {
		return interrupted(ctx, err)
	}
	defer sess.Close()
	ap := &lazyApplier{cfg: cfg}
	defer ap.close()
	proc := &imapfetch.Processor{Parse: feedback.Parse, Apply: ap.apply}
	res, err := sess.Run(ctx, st, opts.rescan, proc.Handle)
	if res.Reset {
		fmt.Fprintf(io.err, "mailblast: the UIDVALIDITY of %s changed (the mailbox was recreated): examined from the start\n", ic.Mailbox)
	}
	if res.Kept > 0 {
		fmt.Fprintf(io.err, "mailblast: %s: %d messages\n", imapfetch.ErrCannotMove, res.Kept)
	}
	printFetchSummary(io.out, fetchSummary{Mailbox: ic.Mailbox, Processed: ic.Processed, Counts: proc.Counts, Moved: res.Moved, Kept: res.Kept}, opts.json)
	return interrupted(ctx, err)
}

// interrupted: a signal ends a pass by closing its connection, so the
// error it ends with is the server's; the exit code is the signal's. What
// was applied but not moved yet is read again, as duplicate, and moved.
func interrupted(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%w: %w", campaign.ErrInterrupted, err)
	}
	return err
}

func printFetchSummary(w io.Writer, s fetchSummary, asJSON bool) {
	if asJSON {
		_ = json.NewEncoder(w).Encode(s) // stdout: nothing to do about a failed write
		return
	}
	// The line of feedback import, then what was moved.
	fmt.Fprintf(w, "%s; %d moved to %s\n", summaryWords(s.Counts), s.Moved, s.Processed)
}

// lazyApplier opens the ledger when the first event needs it: a pass that
// finds no report (most passes of a cron job) leaves the ledger alone.
type lazyApplier struct {
	cfg     *Config
	store   ledger.Store
	applier *feedback.Applier
}

func (l *lazyApplier) apply(ctx context.Context, ev feedback.Event) (feedback.Result, error) {
	if l.applier == nil {
		if l.store == nil {
			s, err := openStore(l.cfg)
			if err != nil {
				return "", err
			}
			l.store = s
		}
		a, err := newApplier(ctx, l.cfg, l.store)
		if err != nil {
			return "", err
		}
		l.applier = a
	}
	return l.applier.Apply(ctx, ev)
}

func (l *lazyApplier) close() {
	if l.store != nil {
		closeLedger(l.store)
	}
}

// imapConfig is feedback.imap.* for a pass, with what only fetch needs:
// host, username and password.
func (c *Config) imapConfig() (imapfetch.Config, error) {
	m := c.Feedback.IMAP
	var errs []error
	if m.Host == "" {
		errs = append(errs, errors.New("feedback.imap.host is not set (MAILBLAST_FEEDBACK_IMAP_HOST)"))
	}
	if m.Username == "" {
		errs = append(errs, errors.New("feedback.imap.username is not set (MAILBLAST_FEEDBACK_IMAP_USERNAME)"))
	}
	if len(errs) > 0 {
		return imapfetch.Config{}, &configError{errors.Join(errs...)}
	}
	mode, _ := parseTLS("feedback.imap.tls", m.TLS) // checked by checkIMAP
	ic := imapfetch.Config{Host: m.Host, Port: m.Port, TLS: mode, Username: m.Username, Password: m.Password,
		Mailbox: m.Mailbox, Processed: m.ProcessedMailbox, PassTimeout: m.Timeout}
	var err error
	if ic.Password, err = secret("feedback.imap.password", m.Password, m.PasswordFile); err != nil {
		return ic, err
	}
	if ic.Password == "" {
		return ic, configErrorf("feedback.imap.username is set but there is no password: set MAILBLAST_FEEDBACK_IMAP_PASSWORD, or feedback.imap.password_file (MAILBLAST_FEEDBACK_IMAP_PASSWORD_FILE)")
	}
	if m.CAFile != "" {
		if ic.TLSConfig, err = tlsWithCA("feedback.imap.ca_file", m.CAFile); err != nil {
			return ic, &configError{err}
		}
	}
	return ic, nil
}
