package ledger

import "strings"

// The RFC 3463 decisions, in one place for the reply at send time and the
// report that comes back after the 250 (feedback's Applier).

// MailboxGone reports whether an enhanced status code says the recipient's
// address cannot receive mail (RFC 3463 5.1.x: bad mailbox, bad domain, bad
// syntax, mailbox moved, null MX...), so the address is suppressed for every
// later campaign. 5.1.7 and 5.1.8 are about the sender's address, not the
// recipient's, and are left out.
func MailboxGone(enhanced string) bool {
	rest, ok := strings.CutPrefix(enhanced, "5.1.")
	return ok && rest != "" && rest != "7" && rest != "8"
}

// NotTheRecipient reports whether an enhanced status code blames the
// message or its sender, not the recipient's address: x.7.x (policy, spam
// blocks, authentication) and x.1.7/x.1.8 (the sender's address). Such a
// bounce never suppresses the recipient and never counts toward the
// soft-bounce limit.
func NotTheRecipient(enhanced string) bool {
	parts := strings.Split(enhanced, ".")
	if len(parts) != 3 || (parts[0] != "4" && parts[0] != "5") {
		return false
	}
	return parts[1] == "7" || (parts[1] == "1" && (parts[2] == "7" || parts[2] == "8"))
}
