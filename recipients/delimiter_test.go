package recipients

import "testing"

// TestDelimiterFromHeader: Excel's "CSV" in many locales separates with
// semicolons, and exports are often tab-separated; the header row says which.
func TestDelimiterFromHeader(t *testing.T) {
	for name, content := range map[string]string{
		"comma":     "id,email,name\n1,a@example.com,\"Ann; Lee\"\n",
		"semicolon": "id;email;name\n1;a@example.com;\"Ann, Lee\"\n",
		"tab":       "id\temail\tname\n1\ta@example.com\tAnn\n",
		"quoted":    "\"id;x\",email\n1,a@example.com\n",
	} {
		t.Run(name, func(t *testing.T) {
			rows := readAll(t, open(t, content, Options{}))
			if len(rows) != 1 || rows[0].Email != "a@example.com" {
				t.Fatalf("rows %+v", rows)
			}
		})
	}
}
