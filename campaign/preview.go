package campaign

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/recipients"
	"github.com/mailblast/mailblast/templates"
)

// ErrNoSuchRow is returned when the list has no data row of the number asked for.
var ErrNoSuchRow = errors.New("no such row")

// RowSkippedError is returned when the row asked for is one send skips, and why. It is
// bad data (errors.Is ErrNotSendable), but only this row's: other rows
// may well be sent.
type RowSkippedError struct {
	Row int
	Err error
}

func (e *RowSkippedError) Error() string {
	return fmt.Sprintf("row %d is skipped by send: %v", e.Row, e.Err)
}

func (e *RowSkippedError) Unwrap() error { return e.Err }

// Is makes the error count as ErrNotSendable for the exit code.
func (e *RowSkippedError) Is(target error) bool { return target == ErrNotSendable }

// PreviewOptions picks the one row Preview builds.
type PreviewOptions struct {
	Settings Settings // the list, the address column, the template
	Name     string   // the campaign, for its Message-IDs
	Row      int      // spreadsheet row: the header is 1, the first data row 2
	Ledger   ledger.Store
	Now      func() time.Time
}

// PreviewResult is one row's message and what the user should know about it.
type PreviewResult struct {
	Message Message
	// Notes say why the message may differ from what the relay will get
	// (a campaign not started yet) or why send will not send it at all.
	Notes []string
}

// Preview builds the message of one row exactly as send builds it, with
// the campaign's own Message-ID when the ledger has the campaign. It only
// reads the ledger.
func Preview(ctx context.Context, opts PreviewOptions) (PreviewResult, error) {
	var res PreviewResult
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	t, err := loadTemplate(opts.Settings)
	if err != nil {
		return res, err
	}
	row, err := readRow(opts.Settings, opts.Row)
	if err != nil {
		return res, err
	}
	addr, err := ParseAddress(row.Email)
	if err != nil {
		return res, &RowSkippedError{Row: row.Num, Err: err}
	}
	rec := ledger.Recipient{Row: row.Num, Email: addr.ASCII, Key: addr.Key, UTF8: addr.UTF8, State: ledger.Pending}
	c, notes, err := previewState(ctx, opts, &rec, now())
	if err != nil {
		return res, err
	}
	res.Notes = notes
	res.Message, err = messageFor(t, c, rec, row.Fields, now())
	var fe *templates.FieldError
	switch {
	case errors.As(err, &fe):
		return res, &RowSkippedError{Row: row.Num, Err: fmt.Errorf("not sent: %w", err)}
	case err != nil:
		return res, fmt.Errorf("%w: row %d: %w", ErrTemplate, row.Num, err)
	}
	if rec.UTF8 {
		res.Notes = append(res.Notes, "the address has a non-ASCII local part: only a relay that offers SMTPUTF8 takes it")
	}
	return res, nil
}

// previewState finds what send makes of rec: the ledger's row when the
// campaign exists, else the suppression list and the rows before it.
func previewState(ctx context.Context, opts PreviewOptions, rec *ledger.Recipient, now time.Time) (ledger.Campaign, []string, error) {
	c := ledger.Campaign{Name: opts.Name, CreatedAt: now}
	if opts.Ledger != nil {
		found, err := opts.Ledger.Campaign(ctx, opts.Name)
		switch {
		case err == nil && found.Imported:
			return ledgerNotes(ctx, opts.Ledger, found, rec)
		case err != nil && !errors.Is(err, ledger.ErrNotFound):
			return c, nil, err
		}
	}
	notes := []string{fmt.Sprintf("campaign %q has not started: its Message-IDs (and the Date) will differ from this preview's", opts.Name)}
	if opts.Ledger != nil {
		sup, ok, err := opts.Ledger.Suppressed(ctx, rec.Key)
		if err != nil {
			return c, nil, err
		}
		if ok {
			notes = append(notes, "send will skip this row: suppressed: "+sup.Reason)
		}
	}
	first, err := firstRowWith(opts.Settings, rec.Key, rec.Row)
	if err != nil {
		return c, nil, err
	}
	if first > 0 {
		notes = append(notes, fmt.Sprintf("send will skip this row: duplicate of row %d", first))
	}
	return c, notes, nil
}

// ledgerNotes takes the row as the ledger has it: its address, and what
// became of it.
func ledgerNotes(ctx context.Context, store ledger.Store, c ledger.Campaign, rec *ledger.Recipient) (ledger.Campaign, []string, error) {
	got, err := store.Recipient(ctx, c.ID, rec.Row)
	if err != nil {
		return c, nil, err
	}
	if got.Email != rec.Email {
		return c, nil, fmt.Errorf("%w: row %d holds %q, the ledger has %q", ErrListChanged, rec.Row, rec.Email, got.Email)
	}
	*rec = got
	switch got.State {
	case ledger.Pending, ledger.Deferred, ledger.InFlight:
		return c, nil, nil
	case ledger.Skipped:
		return c, []string{"send skips this row: " + got.Text}, nil
	}
	return c, []string{fmt.Sprintf("campaign %q already has this row %s", c.Name, got.State)}, nil
}

// readRow reads the list up to data row num.
func readRow(s Settings, num int) (recipients.Row, error) {
	if num < 2 {
		return recipients.Row{}, fmt.Errorf("%w: row %d: row 1 is the header; data rows start at 2", ErrNoSuchRow, num)
	}
	list, err := recipients.Open(s.List, recipients.Options{EmailColumn: s.EmailColumn})
	if err != nil {
		return recipients.Row{}, err
	}
	defer func() { _ = list.Close() }() // read only: a failed close loses nothing
	for last := 1; ; last++ {
		row, err := list.Next()
		var re *recipients.Error
		switch {
		case err == io.EOF:
			return row, fmt.Errorf("%w: row %d: the list ends at row %d", ErrNoSuchRow, num, last)
		case errors.As(err, &re) && !re.Fatal() && re.Row < num:
			continue // another row's problem
		case err != nil:
			return row, err
		case row.Num == num:
			return row, nil
		}
	}
}

// firstRowWith is the first row before row whose address has key, or 0.
func firstRowWith(s Settings, key string, row int) (int, error) {
	list, err := recipients.Open(s.List, recipients.Options{EmailColumn: s.EmailColumn})
	if err != nil {
		return 0, err
	}
	defer func() { _ = list.Close() }() // read only: a failed close loses nothing
	for {
		r, err := list.Next()
		var re *recipients.Error
		switch {
		case errors.As(err, &re) && !re.Fatal():
			continue // another row's problem
		case err != nil: // io.EOF, or the file cannot be read past here
			return 0, nil
		case r.Num >= row:
			return 0, nil
		}
		if a, err := ParseAddress(r.Email); err == nil && a.Key == key {
			return r.Num, nil
		}
	}
}
