package templates

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Options says what Load builds around the message file.
type Options struct {
	// Path is the message file: header fields, a blank line and an
	// optional text body, as for ParseFile. It is the campaign's
	// template setting (campaign.Settings.Template), filled in at load.
	Path string `json:"-" mapstructure:"-"`
	// HTMLPath is an HTML body, rendered with html/template: CSV values
	// are escaped for the context they appear in. With a text body the
	// message is multipart/alternative; with a blank one, HTML only.
	HTMLPath string `mapstructure:"html_template"`
	// Attachments are files attached to every message, read once by Load.
	Attachments []string `mapstructure:"attachments"`
	// AttachmentColumn names a CSV column holding a file to attach for
	// that row; an empty cell attaches nothing. The path is resolved in
	// AttachmentDir and may not leave it.
	AttachmentColumn string `mapstructure:"attachment_column"`
	// AttachmentDir is the directory AttachmentColumn paths are relative
	// to; empty means the working directory.
	AttachmentDir string `mapstructure:"attachment_dir"`
	// Inline maps a Content-ID to an image file, shown by the HTML
	// body as <img src="cid:ID">. The images and the HTML make a
	// multipart/related part.
	Inline map[string]string `mapstructure:"inline"`
	// Unsubscribe adds List-Unsubscribe (and, with a URL,
	// List-Unsubscribe-Post: List-Unsubscribe=One-Click, RFC 8058).
	Unsubscribe Unsubscribe `mapstructure:"unsubscribe"`
	// FeedbackID is a template for the Feedback-ID header.
	FeedbackID string `mapstructure:"feedback_id"`
	// Headers are extra header fields; the values are templates. Fields
	// the builder writes, From, To and Subject, and fields the message
	// file already has are refused.
	Headers map[string]string `mapstructure:"headers"`
	// DKIM, when set, signs every message.
	DKIM *DKIMOptions `mapstructure:"dkim"`
}

// Unsubscribe is the List-Unsubscribe settings. URL and Mailto are
// templates rendered for each row; URL must render to an https:// URL,
// Mailto to an address, with or without "mailto:" and a ?subject=...
// query. The embedded OneClick, instead of URL, makes the URL mailblast's
// own signed link served by `mailblast listen`.
type Unsubscribe struct {
	URL      string `mapstructure:"url"`
	Mailto   string `mapstructure:"mailto"`
	OneClick `mapstructure:",squash"`
}

// UnmarshalJSON reads Options as campaigns store them, and as campaigns
// stored by mailblast before the unsubscribe settings were one struct:
// those kept the signed link beside Unsubscribe, as "OneClick".
func (o *Options) UnmarshalJSON(b []byte) error {
	type plain Options
	var v struct {
		plain
		OneClick *OneClick
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*o = Options(v.plain)
	if v.OneClick != nil && o.Unsubscribe.BaseURL == "" {
		o.Unsubscribe.OneClick = *v.OneClick
	}
	return nil
}

// DKIMOptions configures DKIM signing (RFC 6376, relaxed/relaxed,
// rsa-sha256 or ed25519-sha256 by the key).
type DKIMOptions struct {
	Domain   string `mapstructure:"domain"`   // d=, e.g. "acme.example"; must align with the From domain
	Selector string `mapstructure:"selector"` // s=, e.g. "mb2025"
	KeyFile  string `mapstructure:"key_file"` // PEM: PKCS#1 or PKCS#8 RSA (at least 1024 bits), or PKCS#8 Ed25519
}

// Load parses the message file of opts and adds what the other options ask
// for. Every file is read here, once, except the per-row attachments.
func Load(opts Options) (*Template, error) {
	if opts.Path == "" {
		return nil, errors.New("no message file")
	}
	t, err := ParseFile(opts.Path)
	if err != nil {
		return nil, err
	}
	steps := []func(*Options) error{
		t.addExtraHeaders,
		t.addUnsubscribe,
		t.addHTML,
		t.addFiles,
		t.addAttachmentColumn,
		func(*Options) error { t.buildTree(); return nil },
		t.addDKIM, // signs what the tree has
	}
	for _, step := range steps {
		if err := step(&opts); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// addExtraHeaders adds Options.Headers, sorted by name, and Feedback-ID.
func (t *Template) addExtraHeaders(opts *Options) error {
	for _, name := range slices.Sorted(maps.Keys(opts.Headers)) {
		if err := t.addExtraHeader(name, opts.Headers[name], "extra header"); err != nil {
			return err
		}
	}
	if opts.FeedbackID != "" {
		return t.addExtraHeader("Feedback-ID", opts.FeedbackID, "feedback ID")
	}
	return nil
}

// addExtraHeader adds one field that does not come from the message file.
func (t *Template) addExtraHeader(name, value, what string) error {
	if !validFieldName(name) {
		return fmt.Errorf("%s: invalid header name %q", what, name)
	}
	spec := lookupHeader(name)
	switch strings.ToLower(name) {
	case "from", "to", "subject":
		return fmt.Errorf("%s: %s belongs in the message file %s", what, spec.name, t.name)
	}
	if spec.refused != "" {
		return fmt.Errorf("%s: %s %s", what, spec.name, spec.refused)
	}
	if t.HasHeader(name) {
		return fmt.Errorf("%s: %s is set twice (in the message file %s or the extra headers)", what, spec.name, t.name)
	}
	x, err := newExpander(what+" "+spec.name, 1, trimWSP(value))
	if err != nil {
		return templateError(err)
	}
	h := &headerTemplate{spec: spec, x: x}
	if err := h.precompute(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	t.headers = append(t.headers, h)
	return nil
}

// addUnsubscribe parses the List-Unsubscribe templates.
func (t *Template) addUnsubscribe(opts *Options) error {
	u := opts.Unsubscribe
	if u.URL == "" && u.Mailto == "" && u.BaseURL == "" {
		return nil
	}
	for _, name := range []string{"List-Unsubscribe", "List-Unsubscribe-Post"} {
		if t.HasHeader(name) {
			return fmt.Errorf("unsubscribe: %s is already set by the message file %s or the extra headers; remove it there or drop the unsubscribe options", name, t.name)
		}
	}
	t.unsub = new(unsubscribe)
	var err error
	if t.unsub.signed, err = loadSignedLink(u.URL, u.OneClick); err != nil {
		return err
	}
	if u.URL != "" {
		if t.unsub.url, err = newExpander("unsubscribe URL", 1, trimWSP(u.URL)); err != nil {
			return templateError(err)
		}
	}
	if u.Mailto != "" {
		if t.unsub.mailto, err = newExpander("unsubscribe mailto", 1, trimWSP(u.Mailto)); err != nil {
			return templateError(err)
		}
	}
	return nil
}

// addHTML parses the HTML body. With one, a blank text body means an HTML
// only message.
func (t *Template) addHTML(opts *Options) error {
	if opts.HTMLPath == "" {
		return nil
	}
	x, err := parseHTMLFile(opts.HTMLPath)
	if err != nil {
		return err
	}
	t.html = x
	t.htmlOnly = t.bodyBlank
	return nil
}
