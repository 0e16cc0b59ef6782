package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/mailblast/mailblast/campaign"
	"github.com/mailblast/mailblast/feedback"
	"github.com/mailblast/mailblast/ledger"
)

// errUnreadable ends an import that read everything it could but not every
// message: exit 65, after the summary.
var errUnreadable = errors.New("some messages could not be read")

type feedbackImportOptions struct {
	format string
	json   bool
	io     streams
}

func newFeedbackCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "feedback",
		Short: "Read what comes back after the relay's 250: bounces, complaints, unsubscribes",
		Long: `Reports that come back after the relay accepted a message (RFC 3464 bounces,
RFC 5965 abuse reports, the relays' own event payloads) move the recipient
they name to bounced, complained or unsubscribed, and put its address on the
suppression list as the rules say. A report acts only on a recipient it can
prove mailblast mailed: a signed VERP/ENVID token (return_path), or a
Message-ID mailblast issued and stored. Anything else is counted as
unmatched and changes nothing.`,
		Args: noArgs,
	}
	c.AddCommand(newFeedbackImportCommand(), feedbackFetchCmd())
	return c
}

func newFeedbackImportCommand() *cobra.Command {
	opts := &feedbackImportOptions{}
	c := &cobra.Command{
		Use:   "import PATH...",
		Short: "Apply the reports in .eml files, mbox files, Maildirs or stdin (-)",
		Long: `Each PATH is a message file (.eml), an mbox file (it starts "From "), a Maildir
(a directory with cur/ or new/; both are read) or - for standard input. With
--format, each PATH is instead a JSON event payload of that provider.

Importing the same reports twice changes nothing the second time. A message
that cannot be read is named on standard error and passed over; the import
goes on, and exits 65 at the end.`,
		Example: `  mailblast feedback import ~/Maildir/.bounces
  mailblast feedback import --json bounces.mbox
  mailblast feedback import --format ses ses-events/*.json`,
		Args: minArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.io = streamsOf(c)
			return withStore(c, func(ctx context.Context, cfg *Config, store ledger.Store) error {
				return runFeedbackImport(ctx, cfg, store, opts, args)
			})
		},
	}
	c.Flags().StringVar(&opts.format, "format", "", "read provider event payloads: ses, sendgrid or mailgun")
	c.Flags().BoolVar(&opts.json, "json", false, "print the summary as JSON")
	return c
}

func runFeedbackImport(ctx context.Context, cfg *Config, store ledger.Store, opts *feedbackImportOptions, paths []string) error {
	if opts.format != "" {
		if err := oneOf("--format", opts.format, "ses", "sendgrid", "mailgun"); err != nil {
			return &usageError{err}
		}
	}
	if err := checkMailboxPaths(paths); err != nil {
		return err
	}
	app, err := newApplier(ctx, cfg, store)
	if err != nil {
		return err
	}
	im := app.NewImporter()
	sum := &im.Summary
	read := func(m feedback.Message, err error) error {
		if ctx.Err() != nil {
			return campaign.ErrInterrupted
		}
		if err == nil {
			err = applyMessage(ctx, im, opts.format, m)
		}
		var le *applyFailure
		if errors.As(err, &le) {
			return le.err
		}
		if err != nil {
			sum.Messages++
			sum.Unreadable++
			fmt.Fprintf(opts.io.err, "mailblast: feedback import: %s: %v\n", m.Where(), err)
		}
		return nil
	}
	for _, p := range paths {
		if err := feedback.ReadMailbox(p, os.Stdin, read); err != nil {
			return err
		}
	}
	if err := im.Flush(ctx); err != nil {
		return err
	}
	if err := printFeedbackSummary(opts.io.out, *sum, opts.json); err != nil {
		return err
	}
	if sum.Unreadable > 0 {
		return fmt.Errorf("%w: %d unreadable", errUnreadable, sum.Unreadable)
	}
	return nil
}

// checkMailboxPaths refuses, before anything is applied, a path that is
// missing, neither a file nor a Maildir (a FIFO would block the import):
// exit 66, nothing half-done.
func checkMailboxPaths(paths []string) error {
	for _, p := range paths {
		if err := feedback.CheckMailbox(p); err != nil {
			return fmt.Errorf("feedback import: %w", err)
		}
	}
	return nil
}

// applyFailure is an error of the ledger, not of the message: it stops
// the import (each event already recorded stays, and a second import
// takes up the rest).
type applyFailure struct{ err error }

func (e *applyFailure) Error() string { return e.err.Error() }

// applyMessage parses one message (or provider payload) and queues its
// events. A parse error is the message's; an Apply error the ledger's.
func applyMessage(ctx context.Context, im *feedback.Importer, format string, m feedback.Message) error {
	if format != "" {
		events, err := feedback.ParseProvider(format, m.Data)
		if err != nil {
			return err
		}
		im.Summary.Messages++
		if err := im.Events(ctx, events); err != nil {
			return &applyFailure{err}
		}
		return nil
	}
	rep, err := feedback.Parse(bytes.NewReader(m.Data))
	if err == nil && rep.Class == feedback.ClassUnreadable {
		err = errors.New("not a message mailblast can read")
	}
	if err != nil {
		return err
	}
	if err := im.Report(ctx, rep); err != nil {
		return &applyFailure{err}
	}
	return nil
}

// newApplier is the Applier with this configuration's soft-bounce rule and
// the import's address keys.
func newApplier(ctx context.Context, cfg *Config, store ledger.Store) (*feedback.Applier, error) {
	return feedback.NewApplier(ctx, store, feedback.Options{
		SoftBounceLimit:  cfg.Feedback.SoftBounceLimit,
		SoftBounceWindow: cfg.Feedback.SoftBounceWindow,
		Normalize: func(addr string) string {
			a, err := campaign.ParseAddress(addr)
			if err != nil {
				return ""
			}
			return a.Key
		},
	})
}

func printFeedbackSummary(w io.Writer, s feedback.Summary, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(s)
	}
	_, err := fmt.Fprintln(w, summaryWords(s))
	return err
}

// summaryWords is the one line import and fetch print.
func summaryWords(s feedback.Summary) string {
	return fmt.Sprintf("%s read: %s, %s, %d delayed, %s, %s, %s, %d other, %d unmatched, %s, %d unreadable",
		plural(s.Messages, "message"), plural(s.HardBounces, "hard bounce"), plural(s.SoftBounces, "soft bounce"), s.Delayed,
		plural(s.Complaints, "complaint"), plural(s.Unsubscribes, "unsubscribe"), plural(s.AutoReplies, "auto-reply"),
		s.Other, s.Unmatched, plural(s.Duplicates, "duplicate"), s.Unreadable)
}
