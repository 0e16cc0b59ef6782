package templates

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/emersion/go-message"
)

// TestWriteBase64Matches compares writeBase64 with go-message's part
// writer, which wrote the files before: every length around the 57-byte
// line and the encoder's 1,024-byte chunks.
func TestWriteBase64Matches(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var lengths []int
	for n := range 300 {
		lengths = append(lengths, n)
	}
	lengths = append(lengths, 767, 768, 769, 1023, 1024, 1025, 57*18, 57*18+1, 100<<10)
	for _, n := range lengths {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(rng.IntN(256))
		}
		var want bytes.Buffer
		var h message.Header
		h.Set("Content-Transfer-Encoding", "base64")
		w, err := message.CreateWriter(&want, h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		w.Close()
		_, body, _ := bytes.Cut(want.Bytes(), []byte("\r\n\r\n"))
		var got bytes.Buffer
		writeBase64(&got, data)
		if !bytes.Equal(got.Bytes(), body) {
			t.Fatalf("%d bytes: writeBase64 wrote\n%q\ngo-message\n%q", n, got.Bytes(), body)
		}
	}
}

// TestRowAttachmentBadName: a row's file whose name cannot go in a header
// is that row's FieldError, found before anything is written.
func TestRowAttachmentBadName(t *testing.T) {
	dir := fixture(t, map[string]string{"msg.tmpl": "From: a@example.com\nSubject: s\n\nHi\n"})
	if err := os.MkdirAll(filepath.Join(dir, "rows"), 0o755); err != nil {
		t.Fatal(err)
	}
	name := "bad\r\nX-Injected: yes.pdf"
	if err := os.WriteFile(filepath.Join(dir, "rows", name), []byte("%PDF"), 0o644); err != nil {
		t.Fatal(err)
	}
	tmpl, err := Load(inDir(dir, Options{Path: "msg.tmpl", AttachmentColumn: "file", AttachmentDir: "rows"}))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := tmpl.Render(map[string]string{"file": name}, testEnv)
	if err == nil {
		if bytes.Contains(msg, []byte("\nX-Injected")) {
			t.Fatalf("the file name injected a header field:\n%s", msg)
		}
		readBack(t, msg, tmpl)
		return
	}
	var fe *FieldError
	if !errors.As(err, &fe) || !errors.Is(err, ErrAttachment) {
		t.Fatalf("err = %v, want a *FieldError wrapping ErrAttachment", err)
	}
}
