package templates

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden .eml files in testdata")

// TestGolden renders each testdata/NAME.tmpl with the data in NAME.json and
// compares the message with NAME.eml. When NAME.opts.json exists, the
// template is made by Load with those Options, paths relative to testdata;
// otherwise by ParseFile.
func TestGolden(t *testing.T) {
	paths, err := filepath.Glob("testdata/*.tmpl")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no templates in testdata: %v", err)
	}
	for _, path := range paths {
		base := strings.TrimSuffix(path, ".tmpl")
		t.Run(filepath.Base(base), func(t *testing.T) {
			tmpl := loadGolden(t, base)
			var data map[string]string
			src, err := os.ReadFile(base + ".json")
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(src, &data); err != nil {
				t.Fatalf("%s.json: %v", base, err)
			}
			env := testEnv
			if e := data["email"]; e != "" { // a template's To names its recipient
				env.To = e
			}
			got, err := tmpl.Render(data, env)
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := os.WriteFile(base+".eml", got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(base + ".eml")
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("message differs from %s.eml (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", base, got, want)
			}

			// The parts decode to the templates' output.
			root := readTree(t, got)
			readBack(t, got, tmpl)
			if !tmpl.htmlOnly {
				var body bytes.Buffer
				if err := tmpl.body.execute(&body, data); err != nil {
					t.Fatal(err)
				}
				if p := root.find("text/plain"); p == nil || string(p.body) != crlf(body.String()) {
					t.Errorf("text part does not decode to\n%q", crlf(body.String()))
				}
			}
			if tmpl.html != nil {
				var html bytes.Buffer
				if err := tmpl.html.execute(&html, data); err != nil {
					t.Fatal(err)
				}
				if p := root.find("text/html"); p == nil || string(p.body) != crlf(html.String()) {
					t.Errorf("HTML part does not decode to\n%q", crlf(html.String()))
				}
			}
		})
	}
}

// loadGolden makes the template of testdata/NAME.
func loadGolden(t *testing.T, base string) *Template {
	t.Helper()
	src, err := os.ReadFile(base + ".opts.json")
	if errors.Is(err, fs.ErrNotExist) {
		tmpl, err := ParseFile(base + ".tmpl")
		if err != nil {
			t.Fatal(err)
		}
		return tmpl
	}
	if err != nil {
		t.Fatal(err)
	}
	var opts Options
	if err := json.Unmarshal(src, &opts); err != nil {
		t.Fatalf("%s.opts.json: %v", base, err)
	}
	opts.Path = filepath.Base(base) + ".tmpl"
	tmpl, err := Load(inDir(filepath.Dir(base), opts))
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}
