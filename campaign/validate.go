package campaign

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/recipients"
	"github.com/mailblast/mailblast/templates"
)

// ErrNotSendable is returned when no row of the list can be sent.
var ErrNotSendable = errors.New("no row of the list can be sent")

// CheckOptions is a look at a list before sending it: validate and the
// dry run. Nothing connects anywhere and the ledger is only read.
type CheckOptions struct {
	// Settings gives the list, the address column and the template; without
	// a template only the addresses are checked.
	Settings Settings
	// Name is the campaign whose Message-IDs the dry run uses: the ledger's
	// campaign of that name if it exists, else one created now.
	Name string
	// Ledger is the state directory's ledger, for the suppression list and
	// an existing campaign; nil when there is none. It is only read.
	Ledger ledger.Store
	// ScratchDir holds the temporary import ("" for the system's).
	ScratchDir string
	// Write, if set, gets every sendable message (the dry run).
	Write func(row int, m Message) error
	Now   func() time.Time
}

// Group is the rows that share one reason, with the first few row numbers.
type Group struct {
	Reason string `json:"reason"`
	Count  int    `json:"count"`
	Rows   []int  `json:"rows"`
	// Notes, when set, give each of Rows its own reason in the words the
	// ledger and report use ("duplicate of row 2").
	Notes []string `json:"notes,omitempty"`
}

// CheckReport is what Check found.
type CheckReport struct {
	Rows    int // data rows read
	Fine    int // rows that would be sent
	UTF8    int // of those, with a non-ASCII local part: need a relay with SMTPUTF8
	Skipped int // rows send would record as skipped, by reason in SkippedBy
	// SkippedBy groups Skipped rows by reason, most first. Duplicates are
	// one group whatever their first row.
	SkippedBy []Group
	// TemplateErrors are rows the template fails on (not the row's own data),
	// by error; TemplateRows counts them. Template problems that are no
	// row's (a column the list lacks) are groups without rows.
	TemplateErrors []Group
	TemplateRows   int
	// BadRows are rows that cannot be read (the CSV's own errors), the
	// first few of BadRowCount. Send stops at the first.
	BadRows     []error
	BadRowCount int
	// Stopped is an error that ended reading before the end of the list.
	Stopped  error
	Rendered bool // a template was given and rendered for every row
}

// Err is why the campaign cannot be sent as it is, or nil.
func (r *CheckReport) Err() error {
	switch {
	case r.Stopped != nil:
		return r.Stopped
	case r.BadRowCount > 0:
		return fmt.Errorf("%d rows cannot be read, and send stops at the first: %w", r.BadRowCount, r.BadRows[0])
	case len(r.TemplateErrors) > 0:
		g := r.TemplateErrors[0]
		if len(g.Rows) > 0 {
			return fmt.Errorf("%w: %d rows do not render; row %d: %s", ErrTemplate, r.TemplateRows, g.Rows[0], g.Reason)
		}
		return fmt.Errorf("%w: %s", ErrTemplate, g.Reason)
	case r.Fine == 0:
		return ErrNotSendable
	}
	return nil
}

// Keep this many rows per group, groups, and unreadable rows: a report of
// a million bad rows stays small.
const (
	groupRows = 5
	maxGroups = 50
	maxBad    = 10
)

// Check reads every row of the list, applies the rules of an import
// (addresses, duplicates, the suppression list) in a scratch ledger, then
// renders the template for every row that would be sent. The real ledger is
// never written; memory stays flat however long the list.
func Check(ctx context.Context, opts CheckOptions) (_ *CheckReport, err error) {
	c := &checker{opts: opts, rep: &CheckReport{}, groups: map[string]*Group{}, tmplGroups: map[string]*Group{}}
	if opts.Settings.Template != "" {
		t, err := loadTemplate(opts.Settings)
		if err != nil {
			return nil, err
		}
		c.tmpl = t
	}
	list, err := c.open()
	if err != nil {
		return nil, err
	}
	defer func() { _ = list.Close() }() // read only: a failed close loses nothing
	c.list = list
	scratch, err := ledger.OpenScratch(opts.ScratchDir)
	if err != nil {
		return nil, err
	}
	// Closing deletes the scratch ledger; one left behind holds the list's
	// addresses, so the user hears of it.
	defer func() {
		if cerr := scratch.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if err := c.run(ctx, scratch); err != nil {
		if ctx.Err() != nil { // whatever broke first, a signal stopped it
			return nil, fmt.Errorf("%w: %w", ErrInterrupted, context.Cause(ctx))
		}
		return nil, err
	}
	return c.rep, nil
}

type checker struct {
	opts       CheckOptions
	rep        *CheckReport
	tmpl       *templates.Template
	list       *recipients.Reader // the import's pass
	again      *recipients.Reader // the rendering pass
	camp       ledger.Campaign    // for Message-IDs
	groups     map[string]*Group
	tmplGroups map[string]*Group
	win        *schedule // the window, with a zone column (window_next.go)
}

func (c *checker) run(ctx context.Context, scratch ledger.Store) error {
	if err := c.campaign(ctx); err != nil {
		return err
	}
	if c.opts.Ledger != nil {
		if err := copySuppressions(ctx, c.opts.Ledger, scratch); err != nil {
			return err
		}
	}
	id, err := c.importList(ctx, scratch)
	if err != nil {
		return err
	}
	if c.tmpl != nil {
		c.checkColumns()
		// The second pass reads the list again alongside the ledger's rows,
		// both in row order: no seeks.
		if c.again, err = c.open(); err != nil {
			return err
		}
		defer func() { _ = c.again.Close() }() // read only
	}
	err = scratch.Recipients(ctx, id, "", func(rec ledger.Recipient) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return c.row(rec)
	})
	if err != nil {
		return err
	}
	c.rep.SkippedBy = sorted(c.groups)
	c.rep.TemplateErrors = append(c.rep.TemplateErrors, sorted(c.tmplGroups)...)
	c.rep.Rendered = c.tmpl != nil && c.rep.Stopped == nil
	return nil
}

// campaign picks the campaign Message-IDs are made for: the ledger's, so a
// dry run of a started campaign shows its real Message-IDs.
func (c *checker) campaign(ctx context.Context) error {
	c.camp = ledger.Campaign{Name: c.opts.Name, CreatedAt: c.now()}
	if c.opts.Ledger == nil || c.opts.Name == "" {
		return nil
	}
	found, err := c.opts.Ledger.Campaign(ctx, c.opts.Name)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		return nil
	case err != nil:
		return err
	}
	c.camp = found
	return nil
}

// importList imports the list into the scratch ledger as a real import
// would, but goes on past rows that cannot be read, to report them all.
func (c *checker) importList(ctx context.Context, scratch ledger.Store) (int64, error) {
	camp := ledger.Campaign{Name: "check", Settings: []byte("{}")}
	if err := scratch.CreateCampaign(ctx, &camp); err != nil {
		return 0, err
	}
	im, err := scratch.Import(ctx, camp.ID)
	if err != nil {
		return 0, err
	}
	if err := c.readRows(ctx, im); err != nil {
		_ = im.Rollback() // a scratch import; err says what went wrong
		return 0, err
	}
	return camp.ID, im.Commit()
}

func (c *checker) readRows(ctx context.Context, im ledger.Importer) error {
	for n := 0; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		row, err := c.list.Next()
		if err == nil {
			err = c.zoneError(row) // a row send refuses, like one it cannot read
		}
		var re *recipients.Error
		switch {
		case err == io.EOF:
			return nil
		case errors.As(err, &re) && !re.Fatal():
			c.rep.Rows++
			c.rep.BadRowCount++
			if len(c.rep.BadRows) < maxBad {
				c.rep.BadRows = append(c.rep.BadRows, err)
			}
			continue
		case err != nil:
			c.rep.Stopped = err
			return nil
		}
		c.rep.Rows++
		if err := im.Add(recipientFor(row)); err != nil {
			return err
		}
	}
}

// checkColumns reports columns the template uses that the list lacks:
// {{.col}} fails on every row, {{index . "col"}} silently renders nothing.
func (c *checker) checkColumns() {
	have := map[string]bool{}
	for _, h := range c.list.Header() {
		have[h] = true
	}
	for _, f := range c.tmpl.Fields() {
		if !have[f] {
			c.rep.TemplateErrors = append(c.rep.TemplateErrors, Group{
				Reason: fmt.Sprintf("the template uses column %q, which the list does not have (columns: %s)", f, strings.Join(c.list.Header(), ", "))})
		}
	}
}

// row settles one imported row: skipped rows are counted by reason, the
// rest rendered as send would render them.
func (c *checker) row(rec ledger.Recipient) error {
	if rec.State == ledger.Skipped {
		c.skip(rec.Row, rec.Text)
		return nil
	}
	if c.tmpl == nil {
		c.fine(rec)
		return nil
	}
	row, err := c.advance(rec.Row)
	if err != nil {
		return err
	}
	m, err := c.build(rec, row.Fields)
	var fe *templates.FieldError
	switch {
	case errors.As(err, &fe):
		c.skip(rec.Row, "not sent: "+err.Error()) // what send records
		return nil
	case err != nil:
		c.rep.TemplateRows++
		add(c.tmplGroups, strings.TrimPrefix(err.Error(), ErrTemplate.Error()+": "), rec.Row, "")
		return nil
	}
	c.fine(rec)
	if c.opts.Write != nil {
		return c.opts.Write(rec.Row, m)
	}
	return nil
}

func (c *checker) open() (*recipients.Reader, error) {
	return recipients.Open(c.opts.Settings.List, recipients.Options{EmailColumn: c.opts.Settings.EmailColumn})
}

// advance reads the list on to row num; rows before it that could not be
// read were reported by the first pass.
func (c *checker) advance(num int) (recipients.Row, error) {
	for {
		row, err := c.again.Next()
		var re *recipients.Error
		switch {
		case errors.As(err, &re) && !re.Fatal():
			continue
		case err == io.EOF:
			return row, fmt.Errorf("%w: row %d is gone", ErrListChanged, num)
		case err != nil:
			return row, err
		case row.Num == num:
			return row, nil
		case row.Num > num:
			return row, fmt.Errorf("%w: row %d is gone", ErrListChanged, num)
		}
	}
}

func (c *checker) build(rec ledger.Recipient, fields map[string]string) (Message, error) {
	return messageFor(c.tmpl, c.camp, rec, fields, c.now())
}

func (c *checker) fine(rec ledger.Recipient) {
	c.rep.Fine++
	if rec.UTF8 {
		c.rep.UTF8++
	}
}

// duplicates is the one group of duplicates, whatever their first row;
// each row keeps the ledger's own reason as its note.
const duplicates = "duplicate of an earlier row (sent once, to the first)"

func (c *checker) skip(row int, reason string) {
	c.rep.Skipped++
	if strings.HasPrefix(reason, "duplicate of row ") {
		add(c.groups, duplicates, row, reason)
		return
	}
	add(c.groups, reason, row, "")
}

func (c *checker) now() time.Time {
	if c.opts.Now != nil {
		return c.opts.Now()
	}
	return time.Now()
}

// add counts row under reason, folding reasons past maxGroups into one;
// note is the row's own reason, when it says more than the group's.
func add(groups map[string]*Group, reason string, row int, note string) {
	g, ok := groups[reason]
	if !ok && len(groups) >= maxGroups {
		reason = "other reasons"
		g, ok = groups[reason]
	}
	if !ok {
		g = &Group{Reason: reason}
		groups[reason] = g
	}
	g.Count++
	if len(g.Rows) < groupRows {
		g.Rows = append(g.Rows, row)
		if note != "" {
			g.Notes = append(g.Notes, note)
		}
	}
}

func sorted(groups map[string]*Group) []Group {
	out := make([]Group, 0, len(groups))
	for _, g := range groups {
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b Group) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Rows[0], b.Rows[0]))
	})
	return out
}

// copySuppressions streams the suppression list into the scratch ledger,
// a batch at a time.
func copySuppressions(ctx context.Context, from, to ledger.Store) error {
	batch := make([]ledger.Suppression, 0, 1000)
	flush := func() error {
		_, err := to.AddSuppressions(ctx, batch)
		batch = batch[:0]
		return err
	}
	err := from.Suppressions(ctx, func(s ledger.Suppression) error {
		batch = append(batch, s)
		if len(batch) == cap(batch) {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}
