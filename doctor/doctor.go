package doctor

import (
	"context"
	"strings"
	"time"

	"github.com/mailblast/mailblast/sender"
	"github.com/mailblast/mailblast/templates"
)

// Options is the set-up to check.
type Options struct {
	DNSServer  string        // host:port of the DNS server to ask
	DNSTimeout time.Duration // each query; default 5s
	// From is the From address of the first row's message ("" when it
	// could not be rendered); ReturnPath the configured envelope sender,
	// "" when the From address is the envelope sender.
	From, ReturnPath string
	// DKIM is dkim.*; all empty when messages are not signed.
	DKIM templates.DKIMOptions
	// Relay is the relay send would use first; Login tries its username
	// and password (nothing else is ever sent).
	Relay sender.Config
	Login bool
	// Messages is what rendering the list found.
	Messages Messages
	// OneClick is true when a one-click unsubscribe URL is configured
	// (unsubscribe.url or unsubscribe.base_url).
	OneClick bool
}

// Messages sums up the list's rendered messages.
type Messages struct {
	Listed    bool // a list was given and rendered
	Rendered  int
	AllRows   bool // every row (else the first Rendered)
	Largest   int  // bytes
	LargestAt int  // spreadsheet row
	UTF8Rows  int  // rows whose address has a non-ASCII local part
}

// Run makes every check and returns the findings in a fixed order: DNS,
// relay, then the bulk-sender checklist.
func Run(ctx context.Context, opts Options) []Finding {
	if opts.DNSTimeout <= 0 {
		opts.DNSTimeout = 5 * time.Second
	}
	d := &doctor{opts: opts, r: &resolver{server: opts.DNSServer, timeout: opts.DNSTimeout}}
	var out []Finding
	out = append(out, d.spf(ctx), d.dkim(ctx))
	out = append(out, d.dmarc(ctx)...)
	out = append(out, d.mx(ctx))
	out = append(out, d.relay(ctx)...)
	return append(out, checklist(out, opts.OneClick)...)
}

// doctor carries the options and the resolver through the checks.
type doctor struct {
	opts Options
	r    *resolver
}

// domainOf is the part of an address after its last @.
func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return strings.ToLower(addr[i+1:])
	}
	return ""
}

// envelope is the envelope sender's domain and where it comes from.
func (d *doctor) envelope() (domain, source string) {
	if d.opts.ReturnPath != "" {
		return domainOf(d.opts.ReturnPath), "return_path"
	}
	return domainOf(d.opts.From), "the From address"
}
