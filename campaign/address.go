package campaign

import (
	"fmt"
	"net/mail"
	"strings"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// Address is a list address checked for sending.
type Address struct {
	// ASCII is the address for RCPT TO and the To header: the local part
	// as written and the domain as written, or in its ASCII (punycode) form
	// when it is internationalised.
	ASCII string
	// Key is what duplicates and the suppression list compare: the ASCII
	// form in lower case, the local part in Unicode NFC. Local parts are
	// compared without regard to case: RFC 5321 lets a server tell
	// "Ann" from "ann", but no mailbox provider does, and mailing one person
	// twice is the likelier harm. Dots and +tags are kept: what they mean
	// is each provider's own rule.
	Key string
	// UTF8 is set when the local part is not ASCII: only a relay that
	// offers SMTPUTF8 can take it.
	UTF8 bool
}

// AddressError says why an address cannot be sent to. Its text is the
// reason a skipped row carries.
type AddressError struct{ Reason string }

func (e *AddressError) Error() string { return "invalid address: " + e.Reason }

func badAddress(reason string) error { return &AddressError{Reason: reason} }

// ParseAddress checks one bare list address the way an import does:
// net/mail syntax, RFC 5321 lengths (local part 64, address 254, label 63
// octets), and a domain that can exist in the DNS (letters, digits and
// hyphens after IDNA's Lookup mapping, a dot, a top-level label that is not
// all digits, no empty label; "localhost" is let through for local tests).
// Address literals ([192.0.2.1]) and display names are refused.
func ParseAddress(s string) (Address, error) {
	if s == "" {
		return Address{}, badAddress("empty")
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return Address{}, badAddress(whyNotAddress(s, err))
	}
	if a.Address != s || a.Name != "" {
		return Address{}, badAddress("not a bare address")
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], s[at+1:]
	if len(local) > 64 {
		return Address{}, badAddress("local part longer than 64 characters")
	}
	ascii, err := asciiDomain(domain)
	if err != nil {
		return Address{}, err
	}
	addr := Address{ASCII: local + "@" + ascii, UTF8: !isASCII(local)}
	if len(addr.ASCII) > 254 {
		return Address{}, badAddress("longer than 254 characters")
	}
	addr.Key = strings.ToLower(norm.NFC.String(local)) + "@" + strings.ToLower(ascii)
	return addr, nil
}

// whyNotAddress says in words what is wrong with s, which net/mail
// refused: its own messages ("missing '@' or angle-addr") name the parser's
// state, not the mistake.
func whyNotAddress(s string, err error) string {
	at := strings.Count(s, "@")
	i := strings.LastIndexByte(s, '@')
	switch {
	case at == 0:
		return "no '@' in it"
	case at > 1 && !strings.HasPrefix(s, `"`):
		return fmt.Sprintf("%d '@' signs, an address has one", at)
	case i == 0:
		return "nothing before the '@'"
	case i == len(s)-1:
		return "nothing after the '@'"
	case strings.ContainsAny(s, " \t"):
		return "it contains a space"
	case strings.Contains(s[:i], ".."), strings.HasPrefix(s, "."), strings.HasSuffix(s[:i], "."):
		return "a dot at the start or end of the part before the '@', or two dots in a row"
	}
	for _, r := range s[:i] {
		if strings.ContainsRune(`()<>[]:;,\"`, r) {
			return fmt.Sprintf("%q is not allowed before the '@' without quotes", r)
		}
	}
	return strings.TrimPrefix(err.Error(), "mail: ")
}

// asciiDomain checks domain and returns the form for RCPT: as written
// when it is ASCII, punycode when it is not.
func asciiDomain(domain string) (string, error) {
	if strings.HasPrefix(domain, "[") {
		return "", badAddress("address literals ([...]) are not supported")
	}
	lookup, err := idna.Lookup.ToASCII(domain)
	if err != nil {
		return "", badAddress("domain " + domain + ": " + strings.TrimPrefix(err.Error(), "idna: "))
	}
	if err := checkDomain(lookup); err != nil {
		return "", err
	}
	if isASCII(domain) {
		return domain, nil
	}
	return lookup, nil
}

// checkDomain checks a domain in its ASCII form.
func checkDomain(d string) error {
	if d == "localhost" {
		return nil
	}
	if len(d) > 253 {
		return badAddress("domain longer than 253 characters")
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return badAddress("domain has no dot")
	}
	for _, l := range labels {
		if err := checkLabel(l); err != nil {
			return err
		}
	}
	if tld := labels[len(labels)-1]; strings.Trim(tld, "0123456789") == "" {
		return badAddress("top-level domain " + tld + " is all digits")
	}
	return nil
}

func checkLabel(l string) error {
	switch {
	case l == "":
		return badAddress("domain has an empty label")
	case len(l) > 63:
		return badAddress("domain label longer than 63 characters")
	case l[0] == '-' || l[len(l)-1] == '-':
		return badAddress("domain label " + l + " starts or ends with a hyphen")
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !isLDH(c) {
			return badAddress("domain label " + l + " has a character other than letters, digits and hyphens")
		}
	}
	return nil
}

// isLDH reports whether c may appear in a domain label: a letter, a digit
// or a hyphen.
func isLDH(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-'
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// addressKey is the suppression key of s when it is a valid address, and
// s in lower case otherwise, so an entry stored by an older mailblast (or
// by hand) can still be found and removed.
func addressKey(s string) string {
	if a, err := ParseAddress(strings.TrimSpace(s)); err == nil {
		return a.Key
	}
	return strings.ToLower(strings.TrimSpace(s))
}
