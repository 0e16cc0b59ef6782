package campaign

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/recipients"
	"github.com/mailblast/mailblast/safefile"
	"github.com/mailblast/mailblast/templates"
)

// digest identifies a file's content: size and mtime let an unchanged file
// pass without rereading it; the hash decides when they differ.
func digest(path string, hash bool) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	head := strconv.FormatInt(fi.Size(), 10) + ":" + strconv.FormatInt(fi.ModTime().UnixNano(), 10)
	if !hash {
		return head, nil
	}
	f, err := safefile.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return head + ":" + hex.EncodeToString(h.Sum(nil)), nil
}

// sameFile compares a stored digest with the file as it is now. Unless
// strict, an unchanged size and mtime are taken for unchanged content.
func sameFile(path, stored string, strict bool) (bool, error) {
	quick, err := digest(path, false)
	if err != nil {
		return false, err
	}
	if !strict && strings.HasPrefix(stored, quick+":") {
		return true, nil
	}
	full, err := digest(path, true)
	if err != nil {
		return false, err
	}
	return hashOf(full) == hashOf(stored), nil
}

func hashOf(d string) string { return d[strings.LastIndexByte(d, ':')+1:] }

// load finds the campaign in the ledger, creating and importing it when
// it is new, and checks that a known one still has its list and template.
func (r *run) load(ctx context.Context) error {
	c, err := r.store.Campaign(ctx, r.opts.Name)
	if errors.Is(err, ledger.ErrNotFound) {
		return r.createOrJoin(ctx)
	}
	if err != nil {
		return err
	}
	r.c = c
	return r.joined(ctx)
}

// checkedFile is one of a campaign's files and the digest it started with.
type checkedFile struct {
	kind, path, stored string
	strict             bool
}

// verify checks the campaign's files against the digests it was started
// with; strictList hashes the list even when its size and mtime agree.
func (r *run) verify(strictList bool) error {
	files := []checkedFile{
		{"list", r.opts.Settings.List, r.c.ListDigest, strictList},
		{"template", r.opts.Settings.Template, r.c.TemplateDigest, false},
	}
	stored, err := DecodeSettings(r.c)
	if err != nil {
		return err
	}
	now := messageFiles(r.opts.Settings)
	if len(now) != len(stored.Files) {
		return fmt.Errorf("%w: campaign %q was started with other HTML, attachment or image files; restore them, or start a new campaign with --campaign NAME",
			ErrListChanged, r.c.Name)
	}
	for _, path := range now {
		files = append(files, checkedFile{"message file", path, stored.Files[path], false})
	}
	for _, f := range files {
		same, err := sameFile(f.path, f.stored, f.strict)
		if err != nil {
			return fmt.Errorf("campaign %q: %s: %w", r.c.Name, f.kind, err)
		}
		if !same && r.shared() {
			return r.differs(f)
		}
		if !same && f.kind == "list" && r.c.ListPath != f.path {
			return fmt.Errorf("%w: campaign %q in this state directory is the list %s, started %s; this is another list, %s: give it its own name with --campaign NAME",
				ErrListChanged, r.c.Name, r.c.ListPath, r.c.CreatedAt.Local().Format("2006-01-02 15:04"), f.path)
		}
		if !same {
			return fmt.Errorf("%w: campaign %q was started with a different %s %s; restore it, or start a new campaign with --campaign NAME",
				ErrListChanged, r.c.Name, f.kind, f.path)
		}
	}
	return nil
}

func (r *run) create(ctx context.Context) error {
	s := r.opts.Settings
	ld, err := digest(s.List, true)
	if err != nil {
		return fmt.Errorf("list: %w", err)
	}
	td, err := digest(s.Template, true)
	if err != nil {
		return fmt.Errorf("template: %w", err)
	}
	s.Files = map[string]string{}
	for _, path := range messageFiles(s) {
		if s.Files[path], err = digest(path, true); err != nil {
			return fmt.Errorf("message file: %w", err)
		}
	}
	if r.listRows, r.listStat, err = r.prescan(ctx); err != nil {
		return err
	}
	r.c = ledger.Campaign{Name: r.opts.Name, ListPath: s.List, ListDigest: ld,
		TemplatePath: s.Template, TemplateDigest: td, Settings: s.encode()}
	return r.store.CreateCampaign(ctx, &r.c)
}

// messageFiles are the files the message is built from besides the
// template: a campaign refuses to continue when one of them changed, as it
// does for the template. (Per-row attachments are the list's business.)
func messageFiles(s Settings) []string {
	m := s.Message
	files := append([]string{}, m.Attachments...)
	if m.HTMLPath != "" {
		files = append(files, m.HTMLPath)
	}
	for _, p := range m.Inline {
		files = append(files, p)
	}
	sort.Strings(files)
	return slices.Compact(files)
}

// recipientFor is a list row as the ledger takes it: the address in the
// form for RCPT, its key for duplicates and suppressions, or skipped with
// the reason when it cannot be sent to.
func recipientFor(row recipients.Row) ledger.Recipient {
	rec := ledger.Recipient{Row: row.Num, Email: row.Email, Offset: row.Offset}
	addr, err := ParseAddress(row.Email)
	if err != nil {
		rec.State, rec.Text = ledger.Skipped, err.Error()
		return rec
	}
	rec.Email, rec.Key, rec.UTF8 = addr.ASCII, addr.Key, addr.UTF8
	return rec
}

// preflight renders the first rows so a template mistake stops the run
// before any connection opens. Errors of one row's values (a line break
// in a header) are that row's problem, not the template's.
func (r *run) preflight(tmpl *templates.Template, list *recipients.Reader, due []ledger.Recipient) error {
	for i, rec := range due {
		if i == 10 {
			break
		}
		row, err := list.ReadAt(rec.Offset, rec.Row)
		if err != nil {
			return err
		}
		_, err = tmpl.Render(row.Fields, templates.Envelope{To: rec.Email, MessageID: "preflight@invalid", Date: r.opts.now()})
		var fe *templates.FieldError
		if err != nil && !errors.As(err, &fe) {
			return fmt.Errorf("%w: row %d: %w", ErrTemplate, rec.Row, err)
		}
	}
	return nil
}
