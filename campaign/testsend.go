package campaign

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/mailblast/mailblast/safefile"
	"github.com/mailblast/mailblast/sender"
)

// TestSendOptions is one test send: one row's message, to one address.
type TestSendOptions struct {
	Settings Settings
	Name     string // the campaign, for the Message-ID's form
	// Row is the spreadsheet row; 0 takes the first row whose message
	// builds (a row send would skip for its address or values is passed
	// over).
	Row int
	// To is the only RCPT TO; the To header stays the row's.
	To Address
	// SubjectPrefix goes before the Subject before the message is signed,
	// so a DKIM signature still verifies; "" leaves the Subject alone.
	SubjectPrefix string
	Password      string      // the first relay's, never stored
	TLSConfig     *tls.Config // as Options.TLSConfig
}

// TestSendResult is the message that went out and the relay's answer.
type TestSendResult struct {
	Row     int
	Message Message // as rendered; Message.To is the row's address
	Relay   string  // host:port
	Reply   string  // the relay's reply to the message, without its code
}

// TestSend builds a row's message through Preview, the path send renders
// with, and sends it through the first relay, configured as send
// configures it (TLS, AUTH, password), to opts.To only. No ledger is
// opened: nothing is recorded anywhere.
func TestSend(ctx context.Context, opts TestSendOptions) (TestSendResult, error) {
	res, err := testMessage(ctx, opts)
	if err != nil {
		return res, err
	}
	cfg := FirstRelay(opts.Settings, opts.Password, opts.TLSConfig)
	// One message on one connection and one connection attempt: someone
	// is waiting for the answer.
	cfg.Connections, cfg.ConnectAttempts, cfg.Rate = 1, 1, 0
	res.Relay = fmt.Sprintf("%s:%d", cfg.Host, cfg.Port)
	// The envelope sender is return_path untagged when set: a bounce of a
	// test reaches the bounce mailbox and matches no row.
	from := cmp.Or(opts.Settings.ReturnPath, res.Message.From)
	env := &sender.Envelope{ID: res.Row, From: from, To: opts.To.ASCII, Data: res.Message.Data, UTF8: opts.To.UTF8}
	r, err := sendOne(ctx, cfg, env)
	if err != nil {
		return res, err
	}
	res.Reply = r.Env.Reply
	return res, nil
}

// testMessage picks the row and renders its message, the Subject
// prefixed.
func testMessage(ctx context.Context, opts TestSendOptions) (TestSendResult, error) {
	var res TestSendResult
	p := PreviewOptions{Settings: opts.Settings, Name: opts.Name, Row: opts.Row}
	row, err := firstBuilding(ctx, p)
	if err != nil {
		return res, err
	}
	p.Row = row
	if opts.SubjectPrefix != "" {
		dir, err := os.MkdirTemp("", "mailblast-test-send")
		if err != nil {
			return res, err
		}
		defer func() { _ = os.RemoveAll(dir) }()
		if p.Settings.Template, err = prefixedTemplate(opts.Settings.Template, dir, opts.SubjectPrefix); err != nil {
			return res, err
		}
	}
	pr, err := Preview(ctx, p)
	if err != nil {
		return res, err
	}
	return TestSendResult{Row: row, Message: pr.Message}, nil
}

// firstBuilding is p.Row, checked to build, or with p.Row 0 the first
// row from 2 on whose message builds.
func firstBuilding(ctx context.Context, p PreviewOptions) (int, error) {
	if p.Row != 0 {
		_, err := Preview(ctx, p)
		return p.Row, err
	}
	var skipped *RowSkippedError
	for p.Row = 2; ; p.Row++ {
		_, err := Preview(ctx, p)
		switch {
		case errors.Is(err, ErrNoSuchRow):
			return 0, fmt.Errorf("%w: no row's message builds", ErrNotSendable)
		case errors.As(err, &skipped):
			continue
		}
		return p.Row, err
	}
}

// prefixedTemplate writes a copy of the template file into dir with
// prefix before its Subject's value, and returns the copy's path.
func prefixedTemplate(path, dir, prefix string) (string, error) {
	src, err := safefile.ReadFile(path)
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, filepath.Base(path))
	return out, os.WriteFile(out, PrefixSubject(src, prefix), 0o600)
}

// PrefixSubject puts prefix before the value of the first Subject field of
// a template file's header (the lines before the first blank one). A
// template without one comes back as it is: Parse refuses it anyway.
func PrefixSubject(src []byte, prefix string) []byte {
	var out bytes.Buffer
	rest := src
	for len(rest) > 0 {
		line, after, found := bytes.Cut(rest, []byte("\n"))
		if len(bytes.TrimSpace(line)) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(bytes.TrimPrefix(name, []byte("\uFEFF"))), []byte("Subject")) {
			out.Write(src[:len(src)-len(rest)])
			fmt.Fprintf(&out, "%s: %s%s", name, prefix, bytes.TrimLeft(value, " \t"))
			if found {
				out.WriteByte('\n')
			}
			out.Write(after)
			return out.Bytes()
		}
		rest = after
	}
	return src
}

// FirstRelay is the sender configuration send uses for the first relay:
// smtp.relays' first, else smtp.*. Test sends go through it, and doctor
// probes it.
func FirstRelay(s Settings, password string, tc *tls.Config) sender.Config {
	r := &run{opts: &Options{Settings: s, Password: password, TLSConfig: tc}}
	rs := RelaySettings{Settings: s.SMTP}
	if len(s.Relays) > 0 {
		rs = s.Relays[0]
	}
	return r.poolConfig(rs)
}

// sendOne sends env through a pool of one connection and returns its
// result; a refusal is the relay's *sender.Error.
func sendOne(ctx context.Context, cfg sender.Config, env *sender.Envelope) (sender.Result, error) {
	pool, err := sender.NewPool(cfg)
	if err != nil {
		return sender.Result{}, err
	}
	in := make(chan *sender.Envelope, 1)
	in <- env
	close(in)
	var mu sync.Mutex
	var got sender.Result
	err = pool.Run(ctx, ctx, in, func(r sender.Result) { mu.Lock(); got = r; mu.Unlock() })
	switch {
	case err != nil:
		return got, err
	case got.Err != nil:
		return got, got.Err
	case got.Env == nil || got.Released:
		return got, fmt.Errorf("%w: the message was not sent", ErrInterrupted)
	}
	return got, nil
}
