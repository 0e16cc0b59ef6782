// Package doctor checks a campaign's set-up without sending: the DNS
// records receivers judge the mail by, and the relay send would use.
//
// How it works:
//
//  1. Run asks the DNS server of Options.DNSServer (miekg/dns, UDP, TCP
//     when the answer is truncated) for the SPF record of the envelope
//     sender's domain, the DKIM selector's record, the From domain's DMARC
//     record and the return path's MX, and judges each (spf.go, dkim.go,
//     dmarc.go).
//  2. It probes the relay with sender.ProbeRelay (greeting, EHLO, TLS, and
//     a login only when asked; nothing is sent) and weighs what it offers
//     against the list's rendered messages (relay.go).
//  3. It sums the findings up as the Gmail/Yahoo bulk-sender checklist.
//
// Findings are data: a slice of Finding, each OK, WARN or FAIL with one
// line on how to fix it. The caller prints them in one place.
package doctor
