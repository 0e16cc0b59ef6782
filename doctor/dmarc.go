package doctor

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mailblast/mailblast/templates"
)

// DMARCRecords picks the DMARC records (RFC 7489 6.6.3: starting with
// "v=DMARC1") out of _dmarc's TXT records.
func DMARCRecords(txts []string) []string {
	var out []string
	for _, t := range txts {
		if v, _, _ := strings.Cut(t, ";"); strings.EqualFold(strings.ReplaceAll(v, " ", ""), "v=DMARC1") {
			out = append(out, t)
		}
	}
	return out
}

// DMARC is what a check needs of a DMARC record.
type DMARC struct {
	Policy    string // p=: none, quarantine or reject
	SubPolicy string // sp=, "" when absent
	ADKIM     string // "r" (the default) or "s"
	ASPF      string // "r" (the default) or "s"
	RUA       string // aggregate reports' address, "" when absent
}

// ErrDMARCSyntax is a record receivers will not use.
var ErrDMARCSyntax = errors.New("DMARC syntax")

// ParseDMARC reads one record that DMARCRecords returned.
func ParseDMARC(record string) (DMARC, error) {
	d := DMARC{ADKIM: "r", ASPF: "r"}
	tags := map[string]string{}
	for _, part := range strings.Split(record, ";") {
		k, v, ok := strings.Cut(part, "=")
		if strings.TrimSpace(part) == "" {
			continue
		}
		if !ok {
			return d, fmt.Errorf("%w: %q is not tag=value", ErrDMARCSyntax, strings.TrimSpace(part))
		}
		tags[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
	d.Policy, d.SubPolicy, d.RUA = strings.ToLower(tags["p"]), strings.ToLower(tags["sp"]), tags["rua"]
	if d.Policy != "none" && d.Policy != "quarantine" && d.Policy != "reject" {
		return d, fmt.Errorf("%w: p=%q; use none, quarantine or reject", ErrDMARCSyntax, tags["p"])
	}
	for _, t := range []struct {
		tag string
		to  *string
	}{{"adkim", &d.ADKIM}, {"aspf", &d.ASPF}} {
		if v, ok := tags[t.tag]; ok {
			if v = strings.ToLower(v); v != "r" && v != "s" {
				return d, fmt.Errorf("%w: %s=%q; use r or s", ErrDMARCSyntax, t.tag, v)
			}
			*t.to = v
		}
	}
	return d, nil
}

// Alignment is how two domains align under DMARC.
type Alignment int

// Not aligned, aligned only in relaxed mode (the same organisational
// domain), or the very same domain (strict).
const (
	Unaligned Alignment = iota
	Relaxed
	Strict
)

// Align compares an identifier's domain (DKIM d=, the envelope sender's)
// with the From domain.
func Align(from, other string) Alignment {
	from, other = strings.ToLower(strings.TrimSuffix(from, ".")), strings.ToLower(strings.TrimSuffix(other, "."))
	switch {
	case from == "" || other == "":
		return Unaligned
	case from == other:
		return Strict
	case templates.OrgDomain(from) == templates.OrgDomain(other):
		return Relaxed
	}
	return Unaligned
}

// Passes reports whether a alignment passes the record's mode ("r" or "s").
func (a Alignment) Passes(mode string) bool {
	return a == Strict || (a == Relaxed && mode != "s")
}
