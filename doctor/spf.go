package doctor

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// SPFRecords picks the SPF records (RFC 7208 4.5: "v=spf1" alone or
// followed by a space) out of a name's TXT records.
func SPFRecords(txts []string) []string {
	var out []string
	for _, t := range txts {
		l := strings.ToLower(t)
		if l == "v=spf1" || strings.HasPrefix(l, "v=spf1 ") {
			out = append(out, t)
		}
	}
	return out
}

// SPF is what a check needs of one SPF record.
type SPF struct {
	All     string // qualifier of the "all" term ("+", "-", "~", "?"); "" without one
	Lookups int    // terms that cost a DNS lookup (include, a, mx, ptr, exists, redirect)
}

// ErrSPFSyntax is a record receivers will not evaluate (a permerror).
var ErrSPFSyntax = errors.New("SPF syntax")

// maxLookups is RFC 7208 4.6.4's limit; more is a permerror.
const maxLookups = 10

// ParseSPF checks the terms of one record that SPFRecords returned. It
// counts the lookups of this record only, not of the records it includes.
func ParseSPF(record string) (SPF, error) {
	var spf SPF
	terms := strings.Fields(record)
	for _, term := range terms[1:] {
		if err := spf.term(strings.ToLower(term)); err != nil {
			return spf, fmt.Errorf("%w: %q: %w", ErrSPFSyntax, term, err)
		}
	}
	if spf.Lookups > maxLookups {
		return spf, fmt.Errorf("%w: %d DNS lookups in the record itself; at most %d are allowed", ErrSPFSyntax, spf.Lookups, maxLookups)
	}
	return spf, nil
}

// term checks one mechanism or modifier.
func (s *SPF) term(t string) error {
	if name, _, ok := strings.Cut(t, "="); ok && !strings.ContainsAny(name, ":/") {
		if name == "redirect" {
			s.Lookups++
		}
		return nil // a modifier: redirect, exp, or one receivers ignore
	}
	q := "+"
	if strings.ContainsRune("+-~?", rune(t[0])) {
		q, t = t[:1], t[1:]
	}
	name, arg, hasArg := strings.Cut(t, ":")
	if slash := strings.IndexByte(name, '/'); slash >= 0 && !hasArg { // a/24, mx/24
		name = name[:slash]
	}
	switch name {
	case "all":
		s.All = q
		return noArg(hasArg)
	case "include", "exists":
		s.Lookups++
		return needArg(hasArg, arg)
	case "a", "mx", "ptr":
		s.Lookups++
		return nil
	case "ip4", "ip6":
		return ipArg(name, arg)
	}
	return errors.New("unknown mechanism")
}

func noArg(has bool) error {
	if has {
		return errors.New("takes no argument")
	}
	return nil
}

func needArg(has bool, arg string) error {
	if !has || arg == "" {
		return errors.New("needs a domain")
	}
	return nil
}

func ipArg(name, arg string) error {
	var a netip.Addr
	var err error
	if strings.Contains(arg, "/") {
		var p netip.Prefix
		p, err = netip.ParsePrefix(arg)
		a = p.Addr()
	} else {
		a, err = netip.ParseAddr(arg)
	}
	if err != nil || (name == "ip4") != a.Is4() {
		return fmt.Errorf("not an %s address or network", name)
	}
	return nil
}
