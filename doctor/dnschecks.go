package doctor

import (
	"context"
	"crypto"
	"fmt"
	"strings"

	"github.com/mailblast/mailblast/templates"
	"github.com/miekg/dns"
)

// lookupFailed is the finding of a check whose lookup did not answer.
func lookupFailed(check string, err error) Finding {
	return warn(check, "lookup failed: "+err.Error(), "check --dns-server and that the DNS server answers for the domain")
}

func (d *doctor) spf(ctx context.Context) Finding {
	domain, source := d.envelope()
	if domain == "" {
		return warn("spf", "no envelope sender domain: the From header did not render", "give a list whose first row renders, or set return_path")
	}
	txts, err := d.r.txt(ctx, domain)
	if err != nil {
		return lookupFailed("spf", err)
	}
	recs := SPFRecords(txts)
	switch len(recs) {
	case 0:
		return warn("spf", fmt.Sprintf("%s (%s) has no v=spf1 TXT record", domain, source),
			fmt.Sprintf(`publish a TXT record on %s such as "v=spf1 include:YOUR-RELAY -all"`, domain))
	case 1:
	default:
		return fail("spf", fmt.Sprintf("%s has %d SPF records; receivers treat that as a permanent error", domain, len(recs)),
			"merge them into one v=spf1 TXT record")
	}
	return judgeSPF(domain, recs[0])
}

// judgeSPF weighs the one SPF record of domain.
func judgeSPF(domain, rec string) Finding {
	spf, err := ParseSPF(rec)
	switch {
	case err != nil:
		return fail("spf", fmt.Sprintf("%s: %q: %v", domain, rec, err), "correct the record (RFC 7208); an SPF checker shows each term's meaning")
	case spf.All == "+":
		return fail("spf", fmt.Sprintf("%s: %q ends in +all: anyone may send as the domain", domain, rec), `end the record with "-all" or "~all"`)
	case spf.All == "" || spf.All == "?":
		return warn("spf", fmt.Sprintf("%s: %q says nothing of other senders (neutral)", domain, rec), `end the record with "-all" or "~all"`)
	}
	return ok("spf", fmt.Sprintf("%s: %q", domain, rec))
}

func (d *doctor) dkim(ctx context.Context) Finding {
	k := d.opts.DKIM
	if k.Domain == "" || k.Selector == "" || k.KeyFile == "" {
		return warn("dkim", "DKIM signing is not configured", "set dkim.domain, dkim.selector and dkim.key_file, and publish the key (see README, DKIM)")
	}
	mine, err := KeyFromFile(k.KeyFile)
	if err != nil {
		return fail("dkim", "dkim.key_file: "+err.Error(), "point dkim.key_file at an unencrypted PEM RSA or Ed25519 private key")
	}
	name := k.Selector + "._domainkey." + k.Domain
	txts, err := d.r.txt(ctx, name)
	if err != nil {
		return lookupFailed("dkim", err)
	}
	return judgeDKIM(name, txts, mine)
}

// judgeDKIM compares the key of name's record with mine.
func judgeDKIM(name string, txts []string, mine crypto.PublicKey) Finding {
	fix := fmt.Sprintf("publish the key file's public key as the TXT record of %s (mailblast validate prints the record)", name)
	if len(txts) == 0 {
		return fail("dkim", name+" has no TXT record: receivers cannot verify the signature", fix)
	}
	if len(txts) > 1 {
		return fail("dkim", fmt.Sprintf("%s has %d TXT records; a selector needs exactly one", name, len(txts)), fix)
	}
	theirs, err := ParseDKIMKey(txts[0])
	switch {
	case err != nil:
		return fail("dkim", name+": "+err.Error(), fix)
	case !SameKey(theirs, mine):
		return fail("dkim", fmt.Sprintf("%s publishes a %s key that is not the key of dkim.key_file (%s): every signature fails", name, keyName(theirs), keyName(mine)), fix)
	}
	return ok("dkim", fmt.Sprintf("%s publishes the %s public key of dkim.key_file", name, keyName(mine)))
}

// dmarc checks the From domain's record and the alignment with it.
func (d *doctor) dmarc(ctx context.Context) []Finding {
	from := domainOf(d.opts.From)
	if from == "" {
		f := warn("dmarc", "no From domain: the From header did not render", "give a list whose first row renders")
		return []Finding{f, warn("alignment", f.Detail, f.Fix)}
	}
	rec, f := d.dmarcRecord(ctx, from)
	return []Finding{f, d.alignment(from, rec)}
}

// dmarcRecord finds the From domain's record, at the domain or else at its
// organisational domain (RFC 7489 6.6.3).
func (d *doctor) dmarcRecord(ctx context.Context, from string) (*DMARC, Finding) {
	names := []string{"_dmarc." + from}
	if org := templates.OrgDomain(from); org != from {
		names = append(names, "_dmarc."+org)
	}
	for _, name := range names {
		txts, err := d.r.txt(ctx, name)
		if err != nil {
			return nil, lookupFailed("dmarc", err)
		}
		if recs := DMARCRecords(txts); len(recs) > 0 {
			return judgeDMARC(name, recs)
		}
	}
	return nil, fail("dmarc", fmt.Sprintf("%s has no DMARC record (%s): Gmail and Yahoo require one of bulk senders", from, names[0]),
		fmt.Sprintf(`publish a TXT record on _dmarc.%s such as "v=DMARC1; p=none; rua=mailto:dmarc@%s"`, templates.OrgDomain(from), templates.OrgDomain(from)))
}

func judgeDMARC(name string, recs []string) (*DMARC, Finding) {
	if len(recs) > 1 {
		return nil, fail("dmarc", fmt.Sprintf("%s has %d DMARC records; receivers then use none", name, len(recs)), "keep one v=DMARC1 record")
	}
	rec, err := ParseDMARC(recs[0])
	if err != nil {
		return nil, fail("dmarc", fmt.Sprintf("%s: %q: %v", name, recs[0], err), "correct the record (RFC 7489)")
	}
	detail := fmt.Sprintf("%s: policy p=%s", name, rec.Policy)
	if rec.Policy == "none" {
		detail += " (monitoring only; enough for Gmail and Yahoo)"
	}
	return &rec, ok("dmarc", detail)
}

// alignment: DMARC passes when SPF or DKIM passes for a domain aligned
// with From; both aligned is what the bulk-sender rules expect.
func (d *doctor) alignment(from string, rec *DMARC) Finding {
	mode := DMARC{ADKIM: "r", ASPF: "r"}
	if rec != nil {
		mode = *rec
	}
	env, source := d.envelope()
	parts := []string{
		alignText("DKIM d="+d.opts.DKIM.Domain, from, d.opts.DKIM.Domain, mode.ADKIM),
		alignText("envelope sender ("+source+") "+env, from, env, mode.ASPF),
	}
	dkimOK := Align(from, d.opts.DKIM.Domain).Passes(mode.ADKIM)
	spfOK := Align(from, env).Passes(mode.ASPF)
	detail := "From " + from + ": " + strings.Join(parts, "; ")
	switch {
	case dkimOK && spfOK:
		return ok("alignment", detail)
	case dkimOK || spfOK:
		return warn("alignment", detail, "align both: sign with dkim.domain in the From domain's organisation, and set return_path there")
	}
	return fail("alignment", detail, "set dkim.domain to the From domain (or its parent) and publish its key; DMARC fails without an aligned identifier")
}

// alignText says how one identifier aligns with From.
func alignText(what, from, other, mode string) string {
	switch a := Align(from, other); {
	case other == "":
		return what + "(none)"
	case a == Strict:
		return what + " aligned"
	case a == Relaxed && mode == "s":
		return what + " not aligned: same organisational domain, but the record asks for strict alignment"
	case a == Relaxed:
		return what + " aligned (relaxed: same organisational domain " + templates.OrgDomain(from) + ", by the Public Suffix List)"
	}
	return what + " not aligned"
}

// mx checks that bounces to the return path can arrive.
func (d *doctor) mx(ctx context.Context) Finding {
	if d.opts.ReturnPath == "" {
		return warn("mx", "return_path is not set: bounces go to the From address", "set return_path to an address of a domain you read bounces from")
	}
	domain := domainOf(d.opts.ReturnPath)
	t, err := d.r.exists(ctx, domain, dns.TypeMX, dns.TypeA, dns.TypeAAAA)
	switch {
	case err != nil:
		return lookupFailed("mx", err)
	case t == 0:
		return fail("mx", domain+" (return_path) has no MX, A or AAAA record: bounces cannot arrive", "publish an MX record for "+domain)
	case t != dns.TypeMX:
		return ok("mx", fmt.Sprintf("%s (return_path) has no MX; mail goes to its %s record", domain, dns.TypeToString[t]))
	}
	return ok("mx", domain+" (return_path) has an MX record")
}
