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

// SurveyResult is what `mailblast doctor` needs to know of a list's
// messages: their largest size and the addresses' needs.
type SurveyResult struct {
	Rendered  int    // messages rendered
	AllRows   bool   // every row of the list was rendered (else the first Limit)
	Largest   int    // the largest message, in bytes
	LargestAt int    // its spreadsheet row
	From      string // the From address of the first rendered row
	UTF8Rows  int    // rows whose address has a non-ASCII local part
}

// Survey renders the rows of s.List as send would (the same template and
// messageFor), at most limit of them, and measures them. Rows send would
// skip (a bad address, a value that breaks a header) are left out.
// Without a list, only From is known, and only when it needs no row values.
func Survey(ctx context.Context, s Settings, limit int) (SurveyResult, error) {
	var res SurveyResult
	t, err := loadTemplate(s)
	if err != nil {
		return res, err
	}
	if s.List == "" { // no list: a From without row values, if it has none
		if res.From, err = t.FromAddress(map[string]string{}); err != nil {
			return res, fmt.Errorf("%w: the From header needs values of a row (%w): give the list, mailblast doctor LIST.csv", ErrTemplate, err)
		}
		return res, nil
	}
	list, err := recipients.Open(s.List, recipients.Options{EmailColumn: s.EmailColumn})
	if err != nil {
		return res, err
	}
	defer func() { _ = list.Close() }() // read only: a failed close loses nothing
	c := ledger.Campaign{Name: "doctor", CreatedAt: time.Now()}
	for res.Rendered < limit {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		row, err := list.Next()
		var re *recipients.Error
		switch {
		case err == io.EOF:
			res.AllRows = true
			return res, nil
		case errors.As(err, &re) && !re.Fatal():
			continue // a row send skips
		case err != nil:
			return res, err
		}
		res.measure(t, c, row)
	}
	_, err = list.Next()
	res.AllRows = err == io.EOF
	return res, nil
}

// measure renders one row and notes its size and address.
func (res *SurveyResult) measure(t *templates.Template, c ledger.Campaign, row recipients.Row) {
	addr, err := ParseAddress(row.Email)
	if err != nil {
		return
	}
	rec := ledger.Recipient{Row: row.Num, Email: addr.ASCII, Key: addr.Key, UTF8: addr.UTF8}
	m, err := messageFor(t, c, rec, row.Fields, time.Time{})
	if err != nil {
		return
	}
	if res.Rendered == 0 {
		res.From = m.From
	}
	res.Rendered++
	if len(m.Data) > res.Largest {
		res.Largest, res.LargestAt = len(m.Data), row.Num
	}
	if addr.UTF8 {
		res.UTF8Rows++
	}
}
