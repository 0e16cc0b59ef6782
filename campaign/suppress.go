package campaign

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/recipients"
	"github.com/mailblast/mailblast/safefile"
)

// ErrInvalidAddress is returned when an address given to suppress is not one.
var ErrInvalidAddress = errors.New("invalid address")

// Suppress puts addresses on the suppression list with reason, all or
// none: one that is not an address refuses the lot. It returns how many
// were not on the list yet.
func Suppress(ctx context.Context, store ledger.Store, addrs []string, reason string) (int, error) {
	list := make([]ledger.Suppression, 0, len(addrs))
	var bad []string
	for _, s := range addrs {
		a, err := ParseAddress(strings.TrimSpace(s))
		if err != nil {
			bad = append(bad, fmt.Sprintf("%q: %v", s, err))
			continue
		}
		list = append(list, ledger.Suppression{Address: a.Key, Reason: reason, Source: ledger.SourceManual})
	}
	if len(bad) > 0 {
		return 0, fmt.Errorf("%w, nothing added: %s", ErrInvalidAddress, strings.Join(bad, "; "))
	}
	return store.AddSuppressions(ctx, list)
}

// Unsuppress takes addresses off the list and returns those that were
// not on it.
func Unsuppress(ctx context.Context, store ledger.Store, addrs []string) ([]string, error) {
	var missing []string
	for _, s := range addrs {
		n, err := store.RemoveSuppressions(ctx, []string{addressKey(s)})
		if err != nil {
			return nil, err
		}
		if n == 0 {
			missing = append(missing, s)
		}
	}
	return missing, nil
}

// SuppressImport is what ImportSuppressions did.
type SuppressImport struct {
	Added   int // new on the list
	Already int // valid, but on the list already (or twice in the file)
	// Invalid are the first lines (rows of a CSV file) that hold no valid
	// address, of InvalidCount.
	Invalid      []InvalidLine
	InvalidCount int
	CSV          bool // the file was read as CSV with a header row
}

// InvalidLine is a line of a suppression file that was skipped.
type InvalidLine struct {
	Line   int // the line of a plain list; the spreadsheet row of a CSV file
	Reason string
}

const maxInvalidLines = 20

// ImportSuppressions adds every address of the file at path to the list,
// with reason (default "imported from FILE"). The file is either CSV with a
// header row and an address column (emailColumn, default "email"), read
// like a recipient list, or a plain list: one address per line, blank lines
// and lines starting with # ignored. It is a plain list when its first such
// line holds an "@": a CSV header does not. Lines without a valid address
// are skipped and reported; the rest are added a batch at a time, so memory
// stays flat for a long file.
func ImportSuppressions(ctx context.Context, store ledger.Store, path, emailColumn, reason string) (SuppressImport, error) {
	if reason == "" {
		reason = "imported from " + filepath.Base(path)
	}
	plain, err := isPlainList(path)
	if err != nil {
		return SuppressImport{}, err
	}
	im := &suppressImporter{store: store, reason: reason, batch: make([]ledger.Suppression, 0, 1000)}
	if plain {
		err = im.readPlain(ctx, path)
	} else {
		im.res.CSV = true
		err = im.readCSV(ctx, path, emailColumn)
	}
	if err == nil {
		err = im.flush(ctx)
	}
	return im.res, err
}

type suppressImporter struct {
	store  ledger.Store
	reason string
	batch  []ledger.Suppression
	valid  int
	res    SuppressImport
}

func (im *suppressImporter) add(ctx context.Context, line int, s string) error {
	a, err := ParseAddress(s)
	if err != nil {
		im.invalid(line, err.Error())
		return nil
	}
	im.valid++
	im.batch = append(im.batch, ledger.Suppression{Address: a.Key, Reason: im.reason, Source: ledger.SourceImport, CreatedAt: time.Now()})
	if len(im.batch) == cap(im.batch) {
		return im.flush(ctx)
	}
	return nil
}

func (im *suppressImporter) invalid(line int, reason string) {
	im.res.InvalidCount++
	if len(im.res.Invalid) < maxInvalidLines {
		im.res.Invalid = append(im.res.Invalid, InvalidLine{Line: line, Reason: reason})
	}
}

func (im *suppressImporter) flush(ctx context.Context) error {
	n, err := im.store.AddSuppressions(ctx, im.batch)
	im.batch = im.batch[:0]
	im.res.Added += n
	im.res.Already = im.valid - im.res.Added
	return err
}

func (im *suppressImporter) readPlain(ctx context.Context, path string) error {
	f, err := safefile.Open(path)
	if err != nil {
		return fmt.Errorf("suppression list: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		line := strings.TrimSpace(strings.TrimPrefix(sc.Text(), "\uFEFF"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := im.add(ctx, n, line); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func (im *suppressImporter) readCSV(ctx context.Context, path, emailColumn string) error {
	list, err := recipients.Open(path, recipients.Options{EmailColumn: emailColumn})
	if err != nil {
		return err
	}
	defer func() { _ = list.Close() }() // read only: a failed close loses nothing
	for n := 0; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		row, err := list.Next()
		var re *recipients.Error
		switch {
		case err == io.EOF:
			return nil
		case errors.As(err, &re) && !re.Fatal():
			im.invalid(re.Row, re.Err.Error())
			continue
		case err != nil:
			return err
		}
		if err := im.add(ctx, row.Num, row.Email); err != nil {
			return err
		}
	}
}

// isPlainList looks at the first line that is neither blank nor a comment.
func isPlainList(path string) (bool, error) {
	f, err := safefile.Open(path)
	if err != nil {
		return false, fmt.Errorf("suppression list: %w", err)
	}
	defer f.Close()
	br := bufio.NewReader(io.LimitReader(f, 1<<20))
	for {
		line, err := br.ReadBytes('\n')
		line = bytes.TrimSpace(bytes.TrimPrefix(line, []byte("\xef\xbb\xbf")))
		if len(line) > 0 && line[0] != '#' {
			return bytes.IndexByte(line, '@') >= 0, nil
		}
		if err != nil {
			return true, nil // nothing but blanks and comments
		}
	}
}
