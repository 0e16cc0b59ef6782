package templates_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mailblast/mailblast/templates"
)

// Load a message file and an HTML body, add one-click unsubscribe, render
// one recipient's message.
func ExampleLoad() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "news.tmpl"), []byte("From: Acme News <news@acme.example>\nSubject: Hello {{.first_name}}\n\nHello {{.first_name}},\nthe April news.\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "news.html"), []byte("<p>Hello {{.first_name}},</p><p>the April news.</p>\n"), 0o644)

	opts := templates.Options{
		Path:     filepath.Join(dir, "news.tmpl"),
		HTMLPath: filepath.Join(dir, "news.html"),
	}
	opts.Unsubscribe.URL = "https://acme.example/u/{{.token}}"
	opts.Unsubscribe.Mailto = "unsubscribe@acme.example?subject={{.token}}"
	tmpl, err := templates.Load(opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tmpl.Fields())

	msg, err := tmpl.Render(map[string]string{"first_name": "Ada", "token": "b9f3"}, templates.Envelope{
		To:        "ada@example.net",
		MessageID: "1.campaign@acme.example",
		Date:      time.Date(2025, 4, 1, 9, 0, 0, 0, time.UTC),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	head, _, _ := strings.Cut(string(msg), "\r\n\r\n")
	fmt.Println(strings.ReplaceAll(head, "\r\n", "\n"))
	// Output:
	// [first_name token]
	// From: "Acme News" <news@acme.example>
	// Subject: Hello Ada
	// List-Unsubscribe: <https://acme.example/u/b9f3>,
	//  <mailto:unsubscribe@acme.example?subject=b9f3>
	// List-Unsubscribe-Post: List-Unsubscribe=One-Click
	// To: <ada@example.net>
	// Date: Tue, 01 Apr 2025 09:00:00 +0000
	// Message-ID: <1.campaign@acme.example>
	// MIME-Version: 1.0
	// Content-Type: multipart/alternative;
	//  boundary="=_a.849a63af3b874c59"
}
