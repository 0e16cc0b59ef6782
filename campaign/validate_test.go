package campaign

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailblast/mailblast/ledger"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func openLedger(t *testing.T) *ledger.SQLite {
	t.Helper()
	s, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestCheck(t *testing.T) {
	ctx := context.Background()
	store := openLedger(t)
	if _, err := Suppress(ctx, store, []string{"gone@example.com"}, "unsubscribed"); err != nil {
		t.Fatal(err)
	}
	list := writeFile(t, "list.csv", "email,name\n"+
		"a@example.com,A\n"+ // 2
		"A@Example.com,A2\n"+ // 3 duplicate
		"gone@EXAMPLE.com,G\n"+ // 4 suppressed
		"b@example.com,\"B\nBcc: x@y.org\"\n"+ // 5 line break in a header
		"jörg@example.com,J\n"+ // 6 fine, SMTPUTF8
		"c@example.com\n"+ // 7 unreadable: a field missing
		"a@example.com,A3\n") // 8 duplicate
	tmpl := writeFile(t, "m.tmpl", "From: n@example.com\nSubject: Hi {{.name}}\n\nHello\n")
	rep, err := Check(ctx, CheckOptions{Settings: Settings{List: list, Template: tmpl}, Name: "x", Ledger: store, ScratchDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rows != 7 || rep.Fine != 2 || rep.UTF8 != 1 || rep.Skipped != 4 || rep.BadRowCount != 1 {
		t.Errorf("report %+v", rep)
	}
	got := fmt.Sprint(rep.SkippedBy)
	for _, want := range []string{"{duplicate of an earlier row (sent once, to the first) 2 [3 8] [duplicate of row 2 duplicate of row 2]}",
		"{suppressed: unsubscribed 1 [4] []}", `{not sent: header "Subject": value contains a line break 1 [5] []}`} {
		if !strings.Contains(got, want) {
			t.Errorf("groups %s lack %s", got, want)
		}
	}
	if err := rep.Err(); err == nil || !strings.Contains(err.Error(), "row 7") {
		t.Errorf("Err() = %v, want the unreadable row 7", err)
	}
}

func TestCheckErr(t *testing.T) {
	ctx := context.Background()
	tmpl := writeFile(t, "m.tmpl", "From: n@example.com\nSubject: Hi {{.name}}\n\nHello\n")
	for _, tc := range []struct {
		csv  string
		want error
	}{
		{"email,name\na@example.com,A\n", nil},
		{"email,name\nnope,A\n", ErrNotSendable},
		{"email\na@example.com\n", ErrTemplate}, // the template's column is missing
	} {
		rep, err := Check(ctx, CheckOptions{Settings: Settings{List: writeFile(t, "l.csv", tc.csv), Template: tmpl}})
		if err != nil {
			t.Fatal(err)
		}
		if got := rep.Err(); !errors.Is(got, tc.want) || (tc.want == nil) != (got == nil) {
			t.Errorf("%q: Err() = %v, want %v", tc.csv, got, tc.want)
		}
	}
}

// TestCheckGroupsBounded: a million distinct reasons do not make a million
// groups.
func TestCheckGroupsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("email\n")
	for i := range 200 {
		fmt.Fprintf(&b, "a@c%d-.org\n", i) // every error names the label: "domain label c7- starts or ends with a hyphen"
	}
	rep, err := Check(context.Background(), CheckOptions{Settings: Settings{List: writeFile(t, "l.csv", b.String())}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.SkippedBy) != maxGroups+1 || rep.Skipped != 200 || rep.SkippedBy[0].Reason != "other reasons" {
		t.Errorf("%d groups for %d skipped rows", len(rep.SkippedBy), rep.Skipped)
	}
}

func TestImportSuppressions(t *testing.T) {
	ctx := context.Background()
	store := openLedger(t)
	plain := writeFile(t, "unsub.txt", "# exported\n\nann@example.com\nnot an address\n  BOB@example.com \nann@example.com\n")
	res, err := ImportSuppressions(ctx, store, plain, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if res.CSV || res.Added != 2 || res.Already != 1 || res.InvalidCount != 1 || res.Invalid[0].Line != 4 {
		t.Errorf("plain list: %+v", res)
	}
	if s, ok, _ := store.Suppressed(ctx, "bob@example.com"); !ok || s.Reason != "imported from unsub.txt" || s.Source != ledger.SourceImport {
		t.Errorf("bob: %+v %v", s, ok)
	}
	csv := writeFile(t, "unsub.csv", "Name,E-Mail\nCy,cy@example.com\nDee,\"dee\"\nAnn,ann@example.com\n")
	res, err = ImportSuppressions(ctx, store, csv, "e-mail", "gdpr")
	if err != nil {
		t.Fatal(err)
	}
	if !res.CSV || res.Added != 1 || res.Already != 1 || res.InvalidCount != 1 || res.Invalid[0].Line != 3 {
		t.Errorf("csv: %+v", res)
	}
	missing, err := Unsuppress(ctx, store, []string{"CY@example.com", "zed@example.com"})
	if err != nil || len(missing) != 1 || missing[0] != "zed@example.com" {
		t.Errorf("unsuppress: %v %v", missing, err)
	}
	if _, err := Suppress(ctx, store, []string{"ok@example.com", "bad"}, "r"); !errors.Is(err, ErrInvalidAddress) {
		t.Errorf("Suppress with a bad address: %v", err)
	}
	if _, ok, _ := store.Suppressed(ctx, "ok@example.com"); ok {
		t.Error("Suppress added part of a refused batch")
	}
}

func TestDryRunFileName(t *testing.T) {
	for _, tc := range []struct {
		row  int
		addr string
		want string
	}{
		{2, "ann@example.com", "000002-ann@example.com.eml"},
		{1234567, "a/b?c@example.com", "1234567-a_b_c@example.com.eml"},
	} {
		if got := dryRunFileName(tc.row, tc.addr); got != tc.want {
			t.Errorf("dryRunFileName(%d, %q) = %q, want %q", tc.row, tc.addr, got, tc.want)
		}
	}
	if got := dryRunFileName(2, strings.Repeat("ä", 200)+"@example.com"); len(got) > 255 {
		t.Errorf("long name: %d bytes", len(got))
	}
}

// TestCheckInterrupted: a signal during validate is an interruption (exit
// 130), not an internal error from the scratch ledger it broke off.
func TestCheckInterrupted(t *testing.T) {
	var b strings.Builder
	b.WriteString("email\n")
	for i := range 20000 {
		fmt.Fprintf(&b, "u%d@example.com\n", i)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Check(ctx, CheckOptions{Settings: Settings{List: writeFile(t, "l.csv", b.String())}})
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("err = %v, want ErrInterrupted", err)
	}
}
