package templates

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
	"github.com/mailblast/mailblast/safefile"
)

// maxFileSize bounds one attached file. Most mailbox providers refuse
// messages over 25 MB, and base64 adds a third.
const maxFileSize = 25 << 20

// filePart is an attachment or inline image read by Load: its part header
// and base64 body, encoded once for every message.
type filePart struct {
	wire []byte
}

// fileTypes maps file name extensions to media types. It is fixed, unlike
// mime.TypeByExtension, which reads the system's tables: the same campaign
// builds the same bytes on every machine.
var fileTypes = map[string]string{
	".pdf":  "application/pdf",
	".png":  "image/png",
	".jpg":  "image/jpeg",
	".jpeg": "image/jpeg",
	".gif":  "image/gif",
	".webp": "image/webp",
	".svg":  "image/svg+xml",
	".avif": "image/avif",
	".txt":  "text/plain",
	".csv":  "text/csv",
	".ics":  "text/calendar",
	".htm":  "text/html",
	".html": "text/html",
	".json": "application/json",
	".xml":  "application/xml",
	".zip":  "application/zip",
	".gz":   "application/gzip",
	".doc":  "application/msword",
	".xls":  "application/vnd.ms-excel",
	".ppt":  "application/vnd.ms-powerpoint",
	".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
	".odt":  "application/vnd.oasis.opendocument.text",
	".ods":  "application/vnd.oasis.opendocument.spreadsheet",
}

func mediaType(name string) string {
	if t, ok := fileTypes[strings.ToLower(filepath.Ext(name))]; ok {
		return t
	}
	return "application/octet-stream"
}

// addFiles reads the attachments and inline images.
func (t *Template) addFiles(opts *Options) error {
	for _, path := range opts.Attachments {
		data, err := readFile(osFiles{}, path)
		if err != nil {
			return fmt.Errorf("attachment: %w", err)
		}
		t.files = append(t.files, newFilePart(attachmentHeader(filepath.Base(path)), data))
	}
	if len(opts.Inline) > 0 && t.html == nil {
		return errors.New("inline images need an HTML body")
	}
	for _, id := range slices.Sorted(maps.Keys(opts.Inline)) {
		path := opts.Inline[id]
		if err := checkContentID(id); err != nil {
			return err
		}
		if !t.html.references(id) {
			return fmt.Errorf("inline image %q (%s): the HTML body has no cid:%s", id, path, id)
		}
		typ := mediaType(path)
		if !strings.HasPrefix(typ, "image/") {
			return fmt.Errorf("inline image %q: %s is not an image file (%s)", id, path, typ)
		}
		data, err := readFile(osFiles{}, path)
		if err != nil {
			return fmt.Errorf("inline image %q: %w", id, err)
		}
		t.inline = append(t.inline, newFilePart(inlineHeader(filepath.Base(path), typ, id), data))
	}
	return nil
}

// checkContentID accepts a Content-ID that can be written as <id> and
// named in a cid: URL without percent-encoding.
func checkContentID(id string) error {
	if id == "" {
		return errors.New("inline image with an empty Content-ID")
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(".-_@+=$!*'~", c) >= 0 {
			continue
		}
		return fmt.Errorf("inline image Content-ID %q: character %q not allowed (use letters, digits and .-_@+=$!*'~)", id, c)
	}
	if len(id) > 200 {
		return fmt.Errorf("inline image Content-ID %.20q...: longer than 200 characters", id)
	}
	return nil
}

// attachmentHeader is the part header of an attachment called name.
// go-message encodes a name that is not plain ASCII (RFC 2047 inside the
// quoted parameter, as most clients expect).
func attachmentHeader(name string) message.Header {
	var h mail.AttachmentHeader
	h.Set("Content-Transfer-Encoding", "base64")
	h.SetFilename(name) // Content-Disposition: attachment; filename=...
	h.SetContentType(mediaType(name), map[string]string{"name": name})
	return h.Header
}

// inlineHeader is the part header of an inline image.
func inlineHeader(name, typ, id string) message.Header {
	var h mail.InlineHeader
	h.Set("Content-Transfer-Encoding", "base64")
	h.AddRaw([]byte("Content-ID: <" + id + ">\r\n")) // Set would write Content-Id
	h.SetContentDisposition("inline", map[string]string{"filename": name})
	h.SetContentType(typ, map[string]string{"name": name})
	return h.Header
}

// newFilePart encodes a file part once: its header, the blank line after
// it, and its bytes in base64.
func newFilePart(h message.Header, data []byte) *filePart {
	var b bytes.Buffer
	if err := textproto.WriteHeader(&b, h.Header); err != nil {
		panic(err) // the values above have no line breaks
	}
	writeBase64(&b, data)
	return &filePart{wire: b.Bytes()}
}

// writeBase64 writes data in base64 as go-message's part writer did:
// lines of 76 characters, CRLF between them and none after the last.
func writeBase64(w *bytes.Buffer, data []byte) {
	w.Grow(base64.StdEncoding.EncodedLen(len(data)) * 78 / 76)
	b := w.AvailableBuffer()
	for len(data) > 0 {
		n := min(len(data), 57) // 76 characters of base64
		b = base64.StdEncoding.AppendEncode(b, data[:n])
		if data = data[n:]; len(data) > 0 {
			b = append(b, '\r', '\n')
		}
	}
	w.Write(b)
}

// opener is where files are opened: the system (osFiles, for the
// configured attachments) or an *os.Root (the attachment column's
// directory).
type opener = safefile.FS

type osFiles = safefile.OS

// readFile reads the regular file at path, opened in fsys, within
// maxFileSize.
func readFile(fsys opener, path string) ([]byte, error) {
	var buf bytes.Buffer
	if err := readFileInto(&buf, fsys, path); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func readFileInto(buf *bytes.Buffer, fsys opener, path string) error {
	f, size, err := openFile(fsys, path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf.Grow(int(size))
	if _, err := buf.ReadFrom(io.LimitReader(f, maxFileSize+1)); err != nil {
		return err
	}
	if buf.Len() > maxFileSize {
		return fmt.Errorf("%s: larger than %d MiB", path, maxFileSize>>20)
	}
	return nil
}

// openFile opens path in fsys if it is a regular file (safefile: a FIFO
// or device is refused without blocking) of at most maxFileSize bytes.
func openFile(fsys opener, path string) (*os.File, int64, error) {
	f, fi, err := safefile.OpenIn(fsys, path)
	if err != nil {
		return nil, 0, err
	}
	if fi.Size() > maxFileSize {
		_ = f.Close() // refused: nothing was read
		return nil, 0, &fs.PathError{Op: "attach", Path: path, Err: fmt.Errorf("larger than %d MiB", maxFileSize>>20)}
	}
	return f, fi.Size(), nil
}

// attachColumn is the per-row attachment of Options.AttachmentColumn.
type attachColumn struct {
	name string // the column; empty when not configured
	dir  string
}

func (t *Template) addAttachmentColumn(opts *Options) error {
	if opts.AttachmentColumn == "" {
		return nil
	}
	dir := opts.AttachmentDir
	if dir == "" {
		dir = "."
	}
	dir, err := filepath.Abs(dir) // later changes of the working directory do not matter
	if err != nil {
		return fmt.Errorf("attachment directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("attachment directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("attachment directory %s is not a directory", dir)
	}
	t.attach = attachColumn{name: opts.AttachmentColumn, dir: dir}
	return nil
}

// root is the attachment directory as an *os.Root, which refuses absolute
// paths and paths that leave the directory, by .. or by a symbolic link:
// a CSV cell cannot attach /etc/passwd. Files opened in it outlive it.
func (a *attachColumn) root() (*os.Root, error) {
	return os.OpenRoot(a.dir)
}

// path returns the row's attachment path; "" when the cell is blank.
func (a *attachColumn) path(data map[string]string) (string, error) {
	p, ok := data[a.name]
	if !ok {
		return "", fmt.Errorf("attachment column %q: no such column in the data", a.name)
	}
	return strings.TrimSpace(p), nil
}

// fieldError wraps a row's attachment problem.
func (a *attachColumn) fieldError(err error) *FieldError {
	return &FieldError{Column: a.name, Err: fmt.Errorf("%w: %w", ErrAttachment, err)}
}

// CheckAttachments checks that the file in data's attachment column, if
// any, can be attached: it exists inside the attachment directory, is a
// regular file and is not too large. A caller can check every row before
// sending. A problem with the file is a *FieldError wrapping
// ErrAttachment; a missing column is a plain error.
func (t *Template) CheckAttachments(data map[string]string) error {
	if t.attach.name == "" {
		return nil
	}
	p, err := t.attach.path(data)
	if err != nil || p == "" {
		return err
	}
	root, err := t.attach.root()
	if err != nil {
		return fmt.Errorf("attachment directory: %w", err)
	}
	defer func() { _ = root.Close() }() // read only: a failed close loses nothing
	f, _, err := openFile(root, p)
	if err != nil {
		return t.attach.fieldError(err)
	}
	return f.Close()
}

// readRowAttachment reads the row's attachment into st. st.hasAttach
// reports whether there is one.
func (t *Template) readRowAttachment(st *renderState, data map[string]string) error {
	st.hasAttach = false
	if t.attach.name == "" {
		return nil
	}
	p, err := t.attach.path(data)
	if err != nil || p == "" {
		return err
	}
	root, err := t.attach.root()
	if err != nil {
		return fmt.Errorf("attachment directory: %w", err)
	}
	defer func() { _ = root.Close() }() // read only: a failed close loses nothing
	st.attachData.Reset()
	if err := readFileInto(&st.attachData, root, p); err != nil {
		return t.attach.fieldError(err)
	}
	st.attachHeader.Reset()
	if err := textproto.WriteHeader(&st.attachHeader, attachmentHeader(filepath.Base(p)).Header); err != nil {
		return t.attach.fieldError(err)
	}
	st.hasAttach = true
	return nil
}
