// Package cmd is mailblast's command line: one file per command, the
// configuration wiring, and the one map from errors to exit codes.
package cmd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mailblast/mailblast/campaign"
	"github.com/mailblast/mailblast/feedback"
	"github.com/mailblast/mailblast/feedback/imapfetch"
	"github.com/mailblast/mailblast/ledger/postgres"
	"github.com/mailblast/mailblast/recipients"
	"github.com/mailblast/mailblast/safefile"
	"github.com/mailblast/mailblast/sender"
)

// Exit codes, sysexits-style. Listed in the help text and the README.
const (
	exitOK          = 0
	exitWarnings    = 1   // doctor: warnings, no failure
	exitUsage       = 64  // bad command line
	exitDataErr     = 65  // bad list or template, or they changed under a campaign
	exitNoInput     = 66  // list or template file missing
	exitUnavailable = 69  // relay could not be reached
	exitSoftware    = 70  // internal error
	exitLocked      = 73  // another mailblast holds the campaign lock
	exitIOErr       = 74  // ledger could not be read or written
	exitTempFail    = 75  // recipients deferred: run `mailblast resume` later
	exitNoPerm      = 77  // relay refused our credentials
	exitConfig      = 78  // bad configuration
	exitInterrupted = 130 // stopped by a signal; resume continues
)

const exitStatusHelp = `EXIT STATUS
   0  every recipient is final: sent, failed or skipped
   1  doctor: warnings only, no failure
  64  usage error
  65  bad list or template (the message names row and column), or the list
      or template changed under an existing campaign; validate: the
      campaign cannot be sent as it is; feedback import: some messages
      could not be read (each is named; the rest were applied)
  66  list or template file not found, or not a regular file (a FIFO...);
      feedback import: a PATH missing, not a file, or no Maildir
  69  relay unavailable, or refusing us (5xx greeting): nobody was marked
      failed; resume later; test-send: the relay deferred the test (4xx)
  70  internal error
  73  another mailblast is running this campaign (or, for feedback fetch,
      another feedback fetch on the same state directory)
  74  the ledger is damaged, or could not be read or written (disk full);
      a shared ledger's database went away: resume when it is back
  75  recipients deferred for later, or waiting for their send window or
      for room in a relay's quota;
      run "mailblast resume" (from cron);
      feedback fetch: the IMAP server could not be reached (try later)
      a worker on a shared ledger lost its lease (fenced): resume joins again
  77  the relay, or the IMAP server, rejected the username or password;
      or the OAuth token, or the token endpoint its refresh: nobody was
      marked failed; fix the credentials and resume
  78  configuration error; doctor: a FAIL; test-send: the relay refused the
      test (5xx); feedback fetch: no such mailbox; listen: cannot listen
 130  interrupted: the ledger is consistent; "mailblast resume" continues`

// errUnfinished: the run ended with recipients still waiting.
var errUnfinished = errors.New("recipients are deferred or pending")

// usageError is a bad command line.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// exitCode is the one place errors become exit codes.
func exitCode(err error) int {
	var ue *usageError
	var ce *configError
	var re *recipients.Error
	var se *sender.Error
	var ise *imapfetch.SettingError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, campaign.ErrInterrupted):
		return exitInterrupted
	case errors.Is(err, postgres.ErrFenced):
		return exitTempFail // another worker has its rows: resume joins again
	case errors.Is(err, campaign.ErrLocked), errors.Is(err, imapfetch.ErrBusy):
		return exitLocked
	case errors.As(err, &ce), errors.As(err, &ise):
		return exitConfig
	case errors.Is(err, imapfetch.ErrLoginRefused):
		return exitNoPerm
	case errors.Is(err, imapfetch.ErrUnreachable):
		return exitTempFail
	case errors.Is(err, sender.ErrRelayUnavailable):
		return exitUnavailable
	case errors.As(err, &se) && se.Command == "AUTH" && se.Code == 535, errors.Is(err, sender.ErrTokenRefused):
		return exitNoPerm
	case errors.As(err, &se) && se.Permanent:
		return exitConfig // TLS that does not verify, no STARTTLS, no AUTH mechanism
	case errors.As(err, &se):
		return exitUnavailable
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, safefile.ErrNotRegular), errors.Is(err, feedback.ErrNotMaildir):
		return exitNoInput
	case errors.As(err, &re), errors.Is(err, campaign.ErrTemplate), errors.Is(err, campaign.ErrListChanged),
		errors.Is(err, campaign.ErrNotSendable), errors.Is(err, campaign.ErrInvalidAddress), errors.Is(err, errUnreadable):
		return exitDataErr
	case errors.Is(err, errUnfinished):
		return exitTempFail
	case errors.Is(err, errLedger):
		return exitIOErr
	case errors.Is(err, errWarnings):
		return exitWarnings
	}
	return exitSoftware
}

// Main runs the command line and returns the exit code.
func Main() int {
	tuneGC()
	soft, hard, stop := signalContexts()
	defer stop()
	defer startProfile()()
	root := newRootCommand()
	err := ledgerError(root.ExecuteContext(withHard(soft, hard)))
	code := exitCode(err)
	if err != nil && !errors.Is(err, errUnfinished) {
		fmt.Fprintf(os.Stderr, "mailblast: %v\n", err)
	}
	return code
}

// abandonAfter bounds how long a run may take to end after the second
// signal. Code stuck where no context reaches (an open() that blocks, a
// syscall that never returns) must not keep the process alive; exiting
// mid-commit is safe because SQLite commits are atomic: the ledger keeps
// its last commit.
const abandonAfter = 3 * time.Second

// stopWords are what the first and the second signal say. Commands that
// send say what happens to the messages on the wire (sending sets them);
// the others (listen, feedback fetch ...) have none.
var stopWords atomic.Pointer[[2]string]

var sendingStopWords = [2]string{"finishing messages in flight (again to abandon them)",
	"abandoning the messages on the wire (they stay in flight; resume settles them)"}

func sayStop(n int) string {
	if w := stopWords.Load(); w != nil {
		return w[n]
	}
	return [2]string{"stopping (again to stop at once)", "stopping at once"}[n]
}

// signalContexts: the first SIGINT/SIGTERM ends soft (stop taking
// recipients, let in-flight ones finish), the second ends hard and exits
// 130 if the run has not returned within abandonAfter, a third at once.
func signalContexts() (soft, hard context.Context, stop func()) {
	soft, cancelSoft := context.WithCancelCause(context.Background())
	hard, cancelHard := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 3)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	finished := make(chan struct{})
	var timer *time.Timer // set by the goroutine, read after it ends
	go func() {
		defer close(finished)
		for n := 0; ; n++ {
			select {
			case <-done:
				return
			case sig := <-ch:
				switch n {
				case 0:
					fmt.Fprintf(os.Stderr, "%smailblast: %v: %s\n", clearLine(), sig, sayStop(0))
					cancelSoft(fmt.Errorf("signal %v", sig))
				case 1:
					// Said out loud: `timeout -s INT` delivers its signal twice
					// (to the command and to its process group), which reads as
					// a double Ctrl-C and leaves the messages on the wire in flight.
					fmt.Fprintf(os.Stderr, "%smailblast: second %v: %s\n", clearLine(), sig, sayStop(1))
					cancelHard()
					timer = time.AfterFunc(abandonAfter, func() { abandon(fmt.Sprintf("not stopped %s after the second signal", abandonAfter)) })
				default:
					abandon("third signal")
				}
			}
		}
	}()
	return soft, hard, func() {
		signal.Stop(ch)
		close(done)
		<-finished
		if timer != nil {
			timer.Stop() // the run returned: Main decides the exit code
		}
		cancelSoft(nil)
		cancelHard()
	}
}

// abandon ends the process from any state: cmd is the one place allowed
// to exit.
func abandon(why string) {
	fmt.Fprintf(os.Stderr, "mailblast: %s: exiting now; the ledger keeps its last commit, \"mailblast resume\" continues\n", why)
	os.Exit(exitInterrupted)
}

// clearLine starts a message on a clean line of a terminal: the progress
// bar's line is redrawn below it instead of being written over.
func clearLine() string {
	if term.IsTerminal(int(os.Stderr.Fd())) {
		return "\r\x1b[K"
	}
	return ""
}

type hardKey struct{}

func withHard(soft, hard context.Context) context.Context {
	return context.WithValue(soft, hardKey{}, hard)
}

func hardContext(ctx context.Context) context.Context {
	if h, ok := ctx.Value(hardKey{}).(context.Context); ok {
		return h
	}
	return context.WithoutCancel(ctx)
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "mailblast",
		Short: "Send a personalised message to every row of a CSV list through your SMTP relay",
		Long: `mailblast renders one message per row of a CSV list from a text/template
message file and sends them through a small pool of reused SMTP connections.
Every outcome goes into a durable ledger, so an interrupted or deferred
campaign continues with "mailblast resume" and nobody is mailed twice.

Configuration comes from flags, then MAILBLAST_* environment variables
(MAILBLAST_SMTP_HOST, MAILBLAST_SMTP_PASSWORD, ...), then mailblast.yaml in the
current directory or $XDG_CONFIG_HOME/mailblast/, or --config FILE.
There is no password flag: set MAILBLAST_SMTP_PASSWORD or smtp.password_file.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &usageError{err} })
	root.PersistentFlags().String("config", "", "config file (default ./mailblast.yaml, then $XDG_CONFIG_HOME/mailblast/mailblast.yaml)")
	root.PersistentFlags().String("state-dir", "", "directory of the ledger and locks (default $XDG_STATE_HOME/mailblast)")
	root.PersistentFlags().String("ledger-url", "", "PostgreSQL ledger shared by several machines, postgres://USER@HOST/DB (no password here: PGPASSWORD, ~/.pgpass or ledger.password_file)")
	root.SetUsageTemplate(root.UsageTemplate() + "\n" + exitStatusHelp + "\n")
	root.AddCommand(newSendCommand(), newResumeCommand(), newStatusCommand(), newReportCommand(), newVersionCommand())
	root.AddCommand(newFeedbackCommand())
	root.AddCommand(newValidateCommand(), newPreviewCommand(), newSuppressCommand(), newLedgerCommand())
	root.AddCommand(newInitCommand(), newDocsCommand(), newCampaignsCommand(), newCampaignCommand())
	root.AddCommand(newDoctorCommand(), newTestSendCommand())
	root.AddCommand(newListenCommand())
	root.Version = version
	root.SuggestionsMinimumDistance = 2
	root.SetVersionTemplate(versionLine() + "\n")
	// A root that runs makes cobra hand it unknown words instead of failing
	// with an untyped error: an unknown command is a usage error (64).
	root.Args = func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			hint := "see mailblast --help"
			if s := c.SuggestionsFor(args[0]); len(s) > 0 {
				hint = "did you mean " + s[0] + "?"
			}
			return &usageError{fmt.Errorf("unknown command %q; %s", args[0], hint)}
		}
		return nil
	}
	root.RunE = func(c *cobra.Command, args []string) error { return c.Help() }
	return root
}

func exactArgs(n int) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(c, args); err != nil {
			return &usageError{err}
		}
		return nil
	}
}

func noArgs(c *cobra.Command, args []string) error {
	if err := cobra.NoArgs(c, args); err != nil {
		return &usageError{err}
	}
	return nil
}
