package templates

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden .eml files in testdata")

// TestGolden renders each testdata/NAME.tmpl with the data in NAME.json and
// compares the message with NAME.eml.
func TestGolden(t *testing.T) {
	paths, err := filepath.Glob("testdata/*.tmpl")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no templates in testdata: %v", err)
	}
	for _, path := range paths {
		base := strings.TrimSuffix(path, ".tmpl")
		t.Run(filepath.Base(base), func(t *testing.T) {
			tmpl, err := ParseFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var data map[string]string
			src, err := os.ReadFile(base + ".json")
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(src, &data); err != nil {
				t.Fatalf("%s.json: %v", base, err)
			}
			got, err := tmpl.Render(data, testEnv)
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

			// The body decodes to the body template's output.
			var body bytes.Buffer
			if err := tmpl.body.execute(&body, data); err != nil {
				t.Fatal(err)
			}
			p := readBack(t, got, tmpl)
			if want := crlf(body.String()); p.body != want {
				t.Errorf("decoded body:\n%q\nwant:\n%q", p.body, want)
			}
		})
	}
}
