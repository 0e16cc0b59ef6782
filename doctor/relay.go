package doctor

import (
	"context"
	"crypto/tls"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mailblast/mailblast/sender"
)

// expirySoon is when a certificate's coming expiry is worth a warning.
const expirySoon = 14 * 24 * time.Hour

// relay probes the relay and weighs what it offers.
func (d *doctor) relay(ctx context.Context) []Finding {
	cfg := d.opts.Relay
	if cfg.Host == "" {
		return []Finding{fail("relay", "smtp.host is not set", "set smtp.host (MAILBLAST_SMTP_HOST) or smtp.relays")}
	}
	addr := fmt.Sprintf("%s:%d", cfg.Host, cfg.Port)
	p, err := sender.ProbeRelay(ctx, cfg, d.opts.Login)
	if err != nil {
		return []Finding{fail("relay", addr+": "+err.Error(), "check smtp.host, smtp.port and smtp.tls, and that the relay is up")}
	}
	out := []Finding{ok("relay", addr+" answered EHLO (nothing was sent)"), tlsFinding(cfg, p)}
	if p.TLSErr != nil {
		return append(out, warn("capabilities", "not checked: the session ended at TLS", "fix TLS first"))
	}
	return append(out,
		offered(p, "PIPELINING", Warn, "commands wait for each reply: slower on a distant relay"),
		offered(p, "CHUNKING", OK, "DATA is used instead of BDAT"),
		d.size(p), d.smtputf8(p), d.dsn(p), d.auth(p))
}

// tlsFinding: the certificate verified (or why not) and its expiry.
func tlsFinding(cfg sender.Config, p *sender.Probe) Finding {
	switch {
	case cfg.TLS == sender.NoTLS:
		return warn("tls", "smtp.tls is none: messages and the password cross the network in clear",
			"set smtp.tls: starttls (port 587) or tls (port 465) unless the relay is on this host")
	case p.TLSErr != nil:
		return fail("tls", p.TLSErr.Error(), "give the relay a certificate that verifies for smtp.host, or trust its CA with smtp.ca_file")
	case p.TLS == nil || len(p.TLS.PeerCertificates) == 0:
		return fail("tls", "no TLS session", "check smtp.tls")
	}
	leaf := p.TLS.PeerCertificates[0]
	left := time.Until(leaf.NotAfter)
	detail := fmt.Sprintf("%s (%s), certificate verified, expires %s (in %d days)",
		cfg.TLS, tls.VersionName(p.TLS.Version), leaf.NotAfter.UTC().Format("2006-01-02"), int(left.Hours()/24))
	if left < expirySoon {
		return warn("tls", detail, "renew the relay's certificate (or ask its operator to)")
	}
	return ok("tls", detail)
}

// offered is the finding of an extension whose absence is worth status
// missing, for the reason given.
func offered(p *sender.Probe, ext string, missing Status, why string) Finding {
	check := strings.ToLower(ext)
	if _, has := p.Ext[ext]; has {
		return ok(check, ext+" offered")
	}
	f := Finding{Check: check, Status: missing, Detail: ext + " not offered: " + why}
	if missing != OK {
		f.Fix = "nothing to set: a relay that offers " + ext + " is faster"
	}
	return f
}

// size compares SIZE with the largest rendered message.
func (d *doctor) size(p *sender.Probe) Finding {
	m := d.opts.Messages
	limit, has := p.Ext["SIZE"]
	n, _ := strconv.Atoi(limit)
	relay := "no SIZE limit announced"
	if has && n > 0 {
		relay = fmt.Sprintf("SIZE limit %d bytes", n)
	}
	if !m.Listed {
		return ok("size", relay+"; no list given, so no message was measured")
	}
	which := fmt.Sprintf("the first %d rows", m.Rendered)
	if m.AllRows {
		which = fmt.Sprintf("all %d rows", m.Rendered)
	}
	detail := fmt.Sprintf("%s; largest message %d bytes (row %d) of %s", relay, m.Largest, m.LargestAt, which)
	if has && n > 0 && m.Largest > n {
		return fail("size", detail, "shrink the message (attachments, inline images) below the relay's limit")
	}
	return ok("size", detail)
}

func (d *doctor) smtputf8(p *sender.Probe) Finding {
	if _, has := p.Ext["SMTPUTF8"]; has {
		return ok("smtputf8", "SMTPUTF8 offered")
	}
	if n := d.opts.Messages.UTF8Rows; n > 0 {
		return fail("smtputf8", fmt.Sprintf("SMTPUTF8 not offered, and %d rows have a non-ASCII local part: send skips them", n),
			"use a relay that offers SMTPUTF8, or accept that those rows are skipped")
	}
	return ok("smtputf8", "SMTPUTF8 not offered; no rendered row needs it")
}

func (d *doctor) dsn(p *sender.Probe) Finding {
	if _, has := p.Ext["DSN"]; has {
		return ok("dsn", "DSN offered")
	}
	if d.opts.ReturnPath != "" {
		return warn("dsn", "DSN not offered: ENVID and ORCPT will not go, so bounces are matched by the return path alone",
			"use a relay that offers DSN, or rely on the VERP return path")
	}
	return ok("dsn", "DSN not offered; no return_path is set")
}

// auth weighs the mechanisms offered against the username, and the login
// when one was tried.
func (d *doctor) auth(p *sender.Probe) Finding {
	cfg := d.opts.Relay
	mechs, has := p.Ext["AUTH"]
	mech, noMech := sender.ChooseAuth(&cfg, mechs)
	switch {
	case cfg.Username == "":
		return ok("auth", "no smtp.username: no login ("+offeredText(mechs, has)+")")
	case !has:
		return fail("auth", "smtp.username is set but the relay offers no AUTH", "use the relay's submission port (587 or 465), or unset smtp.username")
	case p.TLS == nil && !cfg.AllowInsecureAuth:
		return fail("auth", "AUTH offered only over a connection without TLS: send refuses to log in", "set smtp.tls: starttls or tls")
	case noMech != nil:
		return fail("auth", noMech.Error(), "set smtp.auth to a mechanism offered, with its credentials (a password, or smtp.oauth2 for XOAUTH2 and OAUTHBEARER)")
	case p.AuthErr != nil && mech.Bearer():
		return fail("auth", "login refused: "+p.AuthErr.Error(), "check smtp.username and smtp.oauth2 (the token, its scopes, the account's SMTP AUTH)")
	case p.AuthErr != nil:
		return fail("auth", "login refused: "+p.AuthErr.Error(), "check smtp.username and the password (MAILBLAST_SMTP_PASSWORD or smtp.password_file)")
	case p.TLS == nil:
		return warn("auth", "the password goes in clear: smtp.allow_insecure_auth is set and there is no TLS", "set smtp.tls: starttls or tls unless the relay is on this host")
	case d.opts.Login:
		return ok("auth", "login accepted with "+strings.ToUpper(string(mech))+" ("+offeredText(mechs, has)+")")
	}
	return ok("auth", offeredText(mechs, has)+"; login not tried (pass --auth to try it)")
}

func offeredText(mechs string, has bool) string {
	if !has {
		return "no AUTH offered"
	}
	return "AUTH " + mechs + " offered"
}
