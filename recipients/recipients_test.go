package recipients

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writeList writes content to a fresh list.csv and returns its path.
func writeList(t testing.TB, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "list.csv")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func open(t testing.TB, content string, opts Options) *Reader {
	t.Helper()
	r, err := Open(writeList(t, content), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// readAll reads rows with Next until io.EOF, failing on any error.
func readAll(t testing.TB, r *Reader) []Row {
	t.Helper()
	var rows []Row
	for {
		row, err := r.Next()
		if err == io.EOF {
			return rows
		}
		if err != nil {
			t.Fatalf("Next after %d rows: %v", len(rows), err)
		}
		rows = append(rows, row)
	}
}

func TestHeader(t *testing.T) {
	tests := []struct {
		name, content string
		opts          Options
		header        []string
		emailColumn   string
	}{
		{"plain", "email,name\n", Options{}, []string{"email", "name"}, "email"},
		{"BOM stripped", "\xef\xbb\xbfemail,name\r\n", Options{}, []string{"email", "name"}, "email"},
		{"spaces trimmed", " Email , name \n", Options{}, []string{"Email", "name"}, "Email"},
		{"default matches any case", "name,EMAIL\n", Options{}, []string{"name", "EMAIL"}, "EMAIL"},
		{"custom column case-insensitive", "Name,E-Mail Address\n", Options{EmailColumn: " e-mail address "},
			[]string{"Name", "E-Mail Address"}, "E-Mail Address"},
		{"quoted header", "\"email\",\"a, b\"\n", Options{}, []string{"email", "a, b"}, "email"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := open(t, tt.content, tt.opts)
			if got := r.Header(); !reflect.DeepEqual(got, tt.header) {
				t.Errorf("Header() = %q, want %q", got, tt.header)
			}
			if got := r.EmailColumn(); got != tt.emailColumn {
				t.Errorf("EmailColumn() = %q, want %q", got, tt.emailColumn)
			}
			if rows := readAll(t, r); len(rows) != 0 {
				t.Errorf("got %d rows from a header-only file", len(rows))
			}
		})
	}
}

func TestNext(t *testing.T) {
	type want struct {
		num    int
		email  string
		fields map[string]string
	}
	tests := []struct {
		name, content string
		opts          Options
		want          []want
	}{
		{"fields by header name", "email,first_name\nann@x.org,Ann\n bob@x.org ,Bob\n", Options{}, []want{
			{2, "ann@x.org", map[string]string{"email": "ann@x.org", "first_name": "Ann"}},
			{3, "bob@x.org", map[string]string{"email": " bob@x.org ", "first_name": "Bob"}},
		}},
		{"quoted newline kept", "email,note\na@x,\"line1\nline2\"\nb@x,plain\n", Options{}, []want{
			{2, "a@x", map[string]string{"email": "a@x", "note": "line1\nline2"}},
			{3, "b@x", map[string]string{"email": "b@x", "note": "plain"}},
		}},
		{"CRLF file", "email,note\r\na@x,\"l1\r\nl2\"\r\nb@x,\"q\"\"q\"\r\n", Options{}, []want{
			{2, "a@x", map[string]string{"email": "a@x", "note": "l1\nl2"}},
			{3, "b@x", map[string]string{"email": "b@x", "note": `q"q`}},
		}},
		{"empty email is not an error", "name,email\nNobody,\n", Options{}, []want{
			{2, "", map[string]string{"name": "Nobody", "email": ""}},
		}},
		{"blank lines skipped", "email\n\na@x\n\n\nb@x\n\n", Options{}, []want{
			{2, "a@x", map[string]string{"email": "a@x"}},
			{3, "b@x", map[string]string{"email": "b@x"}},
		}},
		{"no final newline", "email\na@x", Options{}, []want{
			{2, "a@x", map[string]string{"email": "a@x"}},
		}},
		{"custom email column", "Name,Mail\nAnn, ann@x \n", Options{EmailColumn: "mail"}, []want{
			{2, "ann@x", map[string]string{"Name": "Ann", "Mail": " ann@x "}},
		}},
		{"field at the limit", "email,n\na@x,12345\n", Options{MaxFieldBytes: 5}, []want{
			{2, "a@x", map[string]string{"email": "a@x", "n": "12345"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := readAll(t, open(t, tt.content, tt.opts))
			if len(rows) != len(tt.want) {
				t.Fatalf("got %d rows, want %d", len(rows), len(tt.want))
			}
			for i, w := range tt.want {
				got := rows[i]
				if got.Num != w.num || got.Email != w.email || !reflect.DeepEqual(got.Fields, w.fields) {
					t.Errorf("row %d = {%d %q %q}, want {%d %q %q}", i, got.Num, got.Email, got.Fields, w.num, w.email, w.fields)
				}
			}
		})
	}
}

func TestFieldsMapIsFresh(t *testing.T) {
	r := open(t, "email\na@x\nb@x\n", Options{})
	first, _ := r.Next()
	r.Next()
	if first.Fields["email"] != "a@x" {
		t.Errorf("first row's map changed to %q after the next read", first.Fields["email"])
	}
}

func TestReadAt(t *testing.T) {
	const body = "email,note\na@x,one\n\nb@x,\"two\nlines\"\r\nc@x,three\nd@x,four"
	tests := []struct{ name, content string }{
		{"no BOM", body},
		{"after BOM", "\xef\xbb\xbf" + body},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeList(t, tt.content)
			want := readAll(t, mustOpen(t, path))
			if len(want) != 4 {
				t.Fatalf("got %d rows, want 4", len(want))
			}
			t.Run("sequential without seeking", func(t *testing.T) {
				r := mustOpen(t, path)
				base := r.base
				for _, w := range want {
					checkReadAt(t, r, w)
				}
				if r.base != base || !r.lineKnown {
					t.Errorf("consecutive ReadAt seeked (base %d -> %d)", base, r.base)
				}
			})
			t.Run("out of order", func(t *testing.T) {
				r := mustOpen(t, path)
				for _, i := range []int{3, 1, 0, 2, 2, 0} {
					checkReadAt(t, r, want[i])
				}
			})
			t.Run("Next continues after ReadAt", func(t *testing.T) {
				r := mustOpen(t, path)
				readAll(t, r)
				checkReadAt(t, r, want[1])
				got, err := r.Next()
				if err != nil || !reflect.DeepEqual(got, want[2]) {
					t.Errorf("Next = %+v, %v; want %+v", got, err, want[2])
				}
			})
			t.Run("renumbered", func(t *testing.T) {
				r := mustOpen(t, path)
				got, err := r.ReadAt(want[2].Offset, 1000)
				if err != nil || got.Num != 1000 || got.Email != "c@x" {
					t.Errorf("ReadAt = %+v, %v; want row 1000, c@x", got, err)
				}
				if next, _ := r.Next(); next.Num != 1001 {
					t.Errorf("Next after ReadAt(_, 1000) is row %d, want 1001", next.Num)
				}
			})
		})
	}
}

func mustOpen(t *testing.T, path string) *Reader {
	t.Helper()
	r, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func checkReadAt(t *testing.T, r *Reader, want Row) {
	t.Helper()
	got, err := r.ReadAt(want.Offset, want.Num)
	if err != nil {
		t.Fatalf("ReadAt(%d, %d): %v", want.Offset, want.Num, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ReadAt(%d, %d) = %+v, want %+v", want.Offset, want.Num, got, want)
	}
}

func TestReadAtBadOffset(t *testing.T) {
	content := "\xef\xbb\xbfemail\na@x\n"
	for _, offset := range []int64{0, 3, 5, int64(len(content)), 1 << 40} {
		r := open(t, content, Options{})
		_, err := r.ReadAt(offset, 7)
		var e *Error
		if !errors.Is(err, ErrOffset) || !errors.As(err, &e) || e.Row != 7 || e.Fatal() {
			t.Errorf("ReadAt(%d) = %v, want a non-fatal ErrOffset for row 7", offset, err)
		}
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name, content string
		opts          Options
		want          error
		row           int
		column        string
		msg           string // Error() after "path: "
	}{
		{"empty file", "", Options{}, ErrEmpty, 0, "",
			"empty file: no header row"},
		{"only a BOM", "\xef\xbb\xbf", Options{}, ErrEmpty, 0, "", "empty file: no header row"},
		{"only blank lines", "\n\r\n\n", Options{}, ErrEmpty, 0, "", "empty file: no header row"},
		{"empty header name", "email,,name\n", Options{}, ErrEmptyColumn, 1, "#2",
			`row 1, column "#2": empty column name`},
		{"blank header name", "email,name,  \n", Options{}, ErrEmptyColumn, 1, "#3",
			`row 1, column "#3": empty column name`},
		{"duplicate header name", "email,Name, NAME\n", Options{}, ErrDuplicateColumn, 1, "NAME",
			`row 1, column "NAME": duplicate column name: column #2 is also "Name"`},
		{"no email column", "mail,name\nx,y\n", Options{}, ErrNoEmailColumn, 1, "",
			`row 1: no email column: looked for "email", found "mail", "name"`},
		{"no custom email column", "email,name\n", Options{EmailColumn: "Address"}, ErrNoEmailColumn, 1, "",
			`row 1: no email column: looked for "Address", found "email", "name"`},
		{"too many fields", "email,name\na@x,A\nb@x,B,extra\n", Options{}, ErrFieldCount, 3, "",
			"row 3: wrong number of fields: expected 2, found 3"},
		{"too few fields after a quoted newline", "email,note\na@x,\"x\ny\"\nb@x\n", Options{}, ErrFieldCount, 3, "",
			"row 3 (line 4): wrong number of fields: expected 2, found 1"},
		{"Windows-1252", "email,first_name\na@x,caf\xe9\n", Options{}, ErrInvalidUTF8, 2, "first_name",
			`row 2, column "first_name": invalid UTF-8 (is the file Windows-1252? save it as "CSV UTF-8")`},
		{"Windows-1252 header", "email,pr\xe9nom\n", Options{}, ErrInvalidUTF8, 1, "#2",
			`row 1, column "#2": invalid UTF-8 (is the file Windows-1252? save it as "CSV UTF-8")`},
		{"UTF-16 with BOM", "\xff\xfee\x00m\x00a\x00i\x00l\x00\n\x00", Options{}, ErrInvalidUTF8, 1, "",
			`row 1: invalid UTF-8 (the file is UTF-16: save it as "CSV UTF-8")`},
		{"UTF-16 without BOM", "e\x00m\x00a\x00i\x00l\x00\n\x00", Options{}, ErrNUL, 1, "#1",
			`row 1, column "#1": NUL byte (is the file UTF-16? save it as "CSV UTF-8")`},
		{"NUL", "email,name\na@x,A\x00B\n", Options{}, ErrNUL, 2, "name",
			`row 2, column "name": NUL byte (is the file UTF-16? save it as "CSV UTF-8")`},
		{"field too long", "email,name\na@x,abcdef\n", Options{MaxFieldBytes: 5}, ErrFieldTooLong, 2, "name",
			`row 2, column "name": field too long: 6 bytes, the limit is 5`},
		{"header field too long", "email,abcdef\n", Options{MaxFieldBytes: 5}, ErrFieldTooLong, 1, "#2",
			`row 1, column "#2": field too long: 6 bytes, the limit is 5`},
		{"bare quote", "email,name\na@x,A\nb@x,ab\"c\n", Options{}, csv.ErrBareQuote, 3, "",
			`row 3: bare " in non-quoted-field`},
		{"unclosed quote", "email,name\na@x,\"abc\nb@x,d\n", Options{}, csv.ErrQuote, 2, "",
			`row 2 (line 3): extraneous or missing " in quoted-field`},
		{"quote in header", "email,\"na\"me\n", Options{}, csv.ErrQuote, 1, "",
			`row 1: extraneous or missing " in quoted-field`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeList(t, tt.content)
			err := firstError(path, tt.opts)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %T %v, want *Error", err, err)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("error %v is not %v", err, tt.want)
			}
			if e.Row != tt.row || e.Column != tt.column || e.Path != path {
				t.Errorf("error at %q row %d column %q, want %q row %d column %q", e.Path, e.Row, e.Column, path, tt.row, tt.column)
			}
			if got, want := err.Error(), path+": "+tt.msg; got != want {
				t.Errorf("Error() =\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// firstError returns the first error from Open or Next, or nil at io.EOF.
func firstError(path string, opts Options) error {
	r, err := Open(path, opts)
	if err != nil {
		return err
	}
	defer r.Close()
	for {
		if _, err := r.Next(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

func TestBadRowThenNext(t *testing.T) {
	content := "email,name\na@x,A\nb@x,B,extra\nc@x,caf\xe9\nd@x,D\n"
	r := open(t, content, Options{})
	var got []string
	for {
		row, err := r.Next()
		if err == io.EOF {
			break
		}
		var e *Error
		if errors.As(err, &e) && !e.Fatal() {
			got = append(got, fmt.Sprintf("error@%d", e.Row))
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s@%d", row.Email, row.Num))
	}
	want := []string{"a@x@2", "error@3", "error@4", "d@x@5"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestFatalErrorSticks(t *testing.T) {
	r := open(t, "email\na@x\nb\"x\nc@x\n", Options{})
	first, _ := r.Next()
	for range 2 {
		_, err := r.Next()
		var e *Error
		if !errors.Is(err, csv.ErrBareQuote) || !errors.As(err, &e) || !e.Fatal() || e.Row != 3 {
			t.Fatalf("Next = %v, want a fatal ErrBareQuote at row 3", err)
		}
	}
	checkReadAt(t, r, first) // ReadAt recovers by seeking
	if _, err := r.Next(); !errors.Is(err, csv.ErrBareQuote) {
		t.Errorf("Next after recovery = %v, want the bare quote again", err)
	}
}

// An unclosed quote must not make csv buffer the rest of a large file.
func TestRunawayQuote(t *testing.T) {
	content := "email,note\na@x,\"unclosed\n" + strings.Repeat("b@x,filler\n", 200_000)
	r := open(t, content, Options{MaxFieldBytes: 16})
	_, err := r.Next()
	var e *Error
	if !errors.Is(err, ErrFieldTooLong) || !errors.As(err, &e) || !e.Fatal() || e.Row != 2 {
		t.Fatalf("Next = %v, want a fatal ErrFieldTooLong at row 2", err)
	}
	if r.src.pos > 4*bufSize {
		t.Errorf("read %d of %d bytes before giving up", r.src.pos, len(content))
	}
}

// Quotes doubled throughout make a field twice as long in the file; the
// runaway guard must still let the longest valid record through.
func TestLongestValidRecord(t *testing.T) {
	const limit = 100_000 // more than bufSize once doubled
	field := `"` + strings.Repeat(`""`, limit) + `"`
	content := "email,a,b\r\n" + field + "," + field + "," + field + "\r\nx@y,1,2\r\n"
	rows := readAll(t, open(t, content, Options{MaxFieldBytes: limit}))
	if len(rows) != 2 || len(rows[0].Fields["b"]) != limit {
		t.Errorf("got %d rows, want 2 with %d-byte fields", len(rows), limit)
	}
}

func TestRowLimit(t *testing.T) {
	tests := []struct {
		fields, maxField int
		want             int64
	}{
		{2, 5, 2*(2*5+3) + 2},
		{1, math.MaxInt, 2<<40 + 5},
		{1 << 30, 1 << 40, 1 << 50},
	}
	for _, tt := range tests {
		if got := rowLimit(tt.fields, tt.maxField); got != tt.want {
			t.Errorf("rowLimit(%d, %d) = %d, want %d", tt.fields, tt.maxField, got, tt.want)
		}
	}
}

func TestNoEmailColumnInWideHeader(t *testing.T) {
	var names []string
	for i := range 25 {
		names = append(names, fmt.Sprintf("c%d", i))
	}
	err := firstError(writeList(t, strings.Join(names, ",")+"\n"), Options{})
	if !errors.Is(err, ErrNoEmailColumn) || !strings.HasSuffix(err.Error(), `"c19" and 5 more`) {
		t.Errorf("got %v, want ErrNoEmailColumn listing 20 names and 5 more", err)
	}
}

func TestClose(t *testing.T) {
	r := open(t, "email\na@x\n", Options{})
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if _, err := r.Next(); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Next after Close = %v, want fs.ErrClosed", err)
	}
	if _, err := r.ReadAt(6, 2); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("ReadAt after Close = %v, want fs.ErrClosed", err)
	}
}

func TestOpenMissingFile(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "nope.csv"), Options{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open = %v, want fs.ErrNotExist", err)
	}
}

func BenchmarkNext(b *testing.B) {
	const rows = 100_000
	var sb strings.Builder
	sb.WriteString("email,first_name,last_name,city,plan\n")
	for i := range rows {
		fmt.Fprintf(&sb, "user%d@example.com,First%d,Last%d,\"Springfield, IL\",pro\n", i, i, i)
	}
	path := writeList(b, sb.String())
	b.SetBytes(int64(sb.Len()))
	b.ReportAllocs()
	loops := 0
	for b.Loop() {
		r, err := Open(path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++ // rows are dropped, as a sender would after queueing them
		}
		r.Close()
		if n != rows {
			b.Fatalf("read %d rows, want %d", n, rows)
		}
		loops++
	}
	b.ReportMetric(float64(loops*rows)/b.Elapsed().Seconds(), "rows/s")
}

func FuzzReader(f *testing.F) {
	for _, seed := range []string{
		"email,name\na@x,Ann\nb@x,Bob\n",
		"\xef\xbb\xbfemail,note\r\na@x,\"two\r\nlines\"\r\n\r\nb@x,\"q\"\"q\"",
		"email,name\na@x\nb@x,B,C\n",
		"email,name\na@x,caf\xe9\n",
		"email,name\na@x,a\x00b\n",
		"email,name\na@x,b\"c\nd@x,e\n",
		"email,name\na@x,\"unclosed\nb@x,c\n",
		"email,Email\n",
		"email,,x\n",
		"\xff\xfee\x00",
		"",
	} {
		f.Add([]byte(seed), 0)
	}
	f.Fuzz(func(t *testing.T, data []byte, maxField int) {
		path := writeList(t, string(data))
		r, err := Open(path, Options{MaxFieldBytes: maxField % 64})
		if err != nil {
			checkFuzzError(t, err)
			return
		}
		defer r.Close()
		var rows []Row
		for range len(data) + 2 {
			row, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				if checkFuzzError(t, err) {
					break
				}
				continue
			}
			rows = append(rows, row)
		}
		for i := len(rows) - 1; i >= 0; i-- {
			got, err := r.ReadAt(rows[i].Offset, rows[i].Num)
			if err != nil || !reflect.DeepEqual(got, rows[i]) {
				t.Fatalf("ReadAt(%d, %d) = %+v, %v; want %+v", rows[i].Offset, rows[i].Num, got, err, rows[i])
			}
		}
	})
}

// checkFuzzError fails unless err is an *Error with a message, and reports
// whether it is fatal.
func checkFuzzError(t *testing.T, err error) bool {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Error() == "" {
		t.Fatalf("error %T %v is not an *Error", err, err)
	}
	return e.Fatal()
}
