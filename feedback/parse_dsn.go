package feedback

import (
	"net/mail"
	"strconv"
	"strings"
	"time"
)

var dsnStatusTypes = map[string]bool{
	"message/delivery-status":        true, // RFC 3464
	"message/global-delivery-status": true, // RFC 6533
}

// parseDSN reads a multipart/report; report-type=delivery-status: one
// Event per per-recipient block that failed or was delayed.
func parseDSN(m *message) (Report, error) {
	rp, err := readReportParts(m, dsnStatusTypes, MaxRecipientBlocks)
	if err != nil {
		return unreadable("delivery report: %v", err)
	}
	perMessage, blocks := rp.status.perMessage, rp.status.blocks
	rep := Report{Class: ClassDSN, SkippedBlocks: rp.status.skipped}
	common := Event{
		Source:    "dsn",
		Token:     dsnVERP(m.header),
		EnvID:     dsnEnvID(perMessage),
		MessageID: messageID(rp.returned),
	}
	arrival := parseDate(perMessage.get("arrival-date"), m.date)
	for i, b := range blocks {
		ev, ok := dsnEvent(common, b)
		if !ok {
			continue
		}
		ev.At = parseDate(b.get("last-attempt-date"), arrival)
		ev.Key = reportEventKey("dsn", m, i, perMessage, b)
		rep.Events = append(rep.Events, ev)
	}
	return rep, nil
}

// dsnEvent reads one per-recipient block; false for the actions that
// report no trouble (delivered, relayed, expanded) and unknown ones.
func dsnEvent(ev Event, b fieldGroup) (Event, bool) {
	diag := clean(b.get("diagnostic-code"), maxDiagnostic)
	ev.Status = enhancedCode(b.get("status"))
	if ev.Status == "" {
		ev.Status = findEnhancedCode(diag)
	}
	switch firstWord(b.get("action")) {
	case "failed":
		ev.Kind = failedKind(ev.Status, diag)
	case "delayed":
		ev.Kind = Delayed
	default:
		return Event{}, false
	}
	ev.Diagnostic = diag
	ev.Address = recipientAddress(b)
	return ev, true
}

// failedKind: RFC 3464's "failed" is final; only a 4.x.x status (or,
// without one, a 4xx reply in the diagnostic) says the address may work.
func failedKind(status, diag string) Kind {
	if status != "" {
		if status[0] == '4' {
			return SoftBounce
		}
		return HardBounce
	}
	for _, w := range strings.Fields(diag) {
		if len(w) == 3 && (w[0] == '4' || w[0] == '5') && isDigits(w) {
			if w[0] == '4' {
				return SoftBounce
			}
			return HardBounce
		}
	}
	return HardBounce
}

// enhancedCode returns the RFC 3463 code at the start of v ("5.1.1
// (comment)" gives "5.1.1"), or "" if v does not start with one.
func enhancedCode(v string) string {
	w := strings.TrimSpace(v)
	if i := strings.IndexAny(w, " \t("); i >= 0 {
		w = w[:i]
	}
	parts := strings.Split(w, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || (parts[0] != "2" && parts[0] != "4" && parts[0] != "5") {
		return ""
	}
	for _, p := range parts[1:] {
		if len(p) == 0 || len(p) > 3 || !isDigits(p) {
			return ""
		}
	}
	return w
}

// findEnhancedCode is the first RFC 3463 code among the words of text.
func findEnhancedCode(text string) string {
	for _, w := range strings.Fields(text) {
		if c := enhancedCode(strings.Trim(w, "#:;,()[]<>")); c != "" {
			return c
		}
	}
	return ""
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// recipientAddress: the Original-Recipient (what mailblast gave as ORCPT
// or RCPT TO) before the Final-Recipient (after aliases and forwarding).
func recipientAddress(b fieldGroup) string {
	for _, f := range []string{"original-recipient", "final-recipient"} {
		if a := typedAddress(b.get(f)); a != "" {
			return a
		}
	}
	return ""
}

// typedAddress reads "rfc822; user@example.com" or RFC 6533's
// "utf-8; ..." (whose \x{HEX} escapes it decodes) into a bare address.
func typedAddress(v string) string {
	typ, addr, ok := strings.Cut(v, ";")
	if !ok {
		return ""
	}
	addr = strings.TrimSpace(addr)
	if strings.EqualFold(strings.TrimSpace(typ), "utf-8") {
		addr = unescapeUTF8Addr(addr)
	}
	addr = strings.TrimSuffix(strings.TrimPrefix(addr, "<"), ">")
	return clean(addr, 320)
}

// unescapeUTF8Addr decodes RFC 6533's utf-8-addr-xtext escapes \x{HEX}.
func unescapeUTF8Addr(s string) string {
	if !strings.Contains(s, `\x{`) {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, `\x{`)
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			break
		}
		cp, err := strconv.ParseUint(s[i+3:i+j], 16, 32)
		b.WriteString(s[:i])
		if err != nil || cp > 0x10FFFF {
			b.WriteString(s[i : i+j+1])
		} else {
			b.WriteRune(rune(cp))
		}
		s = s[i+j+1:]
	}
	b.WriteString(s)
	return b.String()
}

// dsnEnvID is the ENVID mailblast sent (RFC 3461, xtext-encoded in the
// report).
func dsnEnvID(perMessage fieldGroup) string {
	return clean(xtextDecode(strings.TrimSpace(perMessage.get("original-envelope-id"))), 256)
}

// dsnVERP is the VERP token of the address the bounce was delivered to,
// as the delivering agent recorded it.
func dsnVERP(h mail.Header) string {
	for _, f := range []string{"Delivered-To", "X-Original-To", "To"} {
		for _, v := range h[f] {
			if t := verpToken(v); t != "" {
				return t
			}
		}
	}
	return ""
}

// verpToken is what follows the first '+' of the local part of an address
// in v (LOCAL+TOKEN@domain), or "". v may be an address list (To).
func verpToken(v string) string {
	addrs := []string{strings.TrimSpace(v)}
	if list, err := mail.ParseAddressList(v); err == nil {
		addrs = addrs[:0]
		for _, a := range list {
			addrs = append(addrs, a.Address)
		}
	}
	for _, addr := range addrs {
		if t := addrToken(addr); t != "" {
			return t
		}
	}
	return ""
}

func addrToken(addr string) string {
	addr = strings.TrimSuffix(strings.TrimPrefix(addr, "<"), ">")
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return ""
	}
	_, token, ok := strings.Cut(addr[:at], "+")
	if !ok || token == "" {
		return ""
	}
	return clean(token, 256)
}

// xtextDecode undoes RFC 3461's xtext: "+HH" (upper-case hex) is the
// byte 0xHH. Postfix writes the ENVID decoded already; a '+' not followed
// by two upper-case hex digits stays as it is.
func xtextDecode(s string) string {
	if !strings.Contains(s, "+") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '+' && i+2 < len(s) && isUpperHex(s[i+1]) && isUpperHex(s[i+2]) {
			if n, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isUpperHex(c byte) bool { return ('0' <= c && c <= '9') || ('A' <= c && c <= 'F') }

// messageID is the Message-ID of the returned original, without its
// angle brackets.
func messageID(h mail.Header) string {
	if h == nil {
		return ""
	}
	id := strings.TrimSpace(h.Get("Message-Id"))
	id = strings.TrimSuffix(strings.TrimPrefix(id, "<"), ">")
	return clean(id, 998)
}

// parseDate reads an RFC 5322 date, else returns fallback.
func parseDate(v string, fallback time.Time) time.Time {
	if v == "" {
		return fallback
	}
	t, err := mail.ParseDate(v)
	if err != nil {
		return fallback
	}
	return t
}
