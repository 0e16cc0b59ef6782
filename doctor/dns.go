package doctor

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// resolver asks one DNS server, as a stub resolver does (recursion
// desired), over UDP and again over TCP when the answer is truncated.
type resolver struct {
	server  string // host:port
	timeout time.Duration
}

// DefaultServer is the first nameserver of /etc/resolv.conf, host:port.
func DefaultServer() (string, error) {
	conf, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil {
		return "", fmt.Errorf("no DNS server: %w (pass --dns-server HOST:PORT)", err)
	}
	if len(conf.Servers) == 0 {
		return "", fmt.Errorf("no nameserver in /etc/resolv.conf (pass --dns-server HOST:PORT)")
	}
	return net.JoinHostPort(conf.Servers[0], conf.Port), nil
}

// query returns the answer's records of qtype for name; a name that does
// not exist has none (NXDOMAIN is not an error: it is the answer).
func (r *resolver) query(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	// A 2048-bit DKIM key makes an answer of more than 512 bytes: offer a
	// larger UDP buffer (EDNS0), and take a truncated answer over TCP.
	m.SetEdns0(4096, false)
	c := &dns.Client{Net: "udp", Timeout: r.timeout}
	in, _, err := c.ExchangeContext(ctx, m, r.server)
	if err == nil && in.Truncated {
		c.Net = "tcp"
		in, _, err = c.ExchangeContext(ctx, m, r.server)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", dns.TypeToString[qtype], name, err)
	}
	switch in.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
	default:
		return nil, fmt.Errorf("%s %s: %s", dns.TypeToString[qtype], name, dns.RcodeToString[in.Rcode])
	}
	var out []dns.RR
	for _, rr := range in.Answer {
		if rr.Header().Rrtype == qtype {
			out = append(out, rr)
		}
	}
	return out, nil
}

// txt returns name's TXT records, each record's strings joined (RFC 7208
// 3.3: a long record is split into strings of 255 octets).
func (r *resolver) txt(ctx context.Context, name string) ([]string, error) {
	rrs, err := r.query(ctx, name, dns.TypeTXT)
	var out []string
	for _, rr := range rrs {
		out = append(out, strings.Join(rr.(*dns.TXT).Txt, ""))
	}
	return out, err
}

// exists reports whether name has records of one of qtypes.
func (r *resolver) exists(ctx context.Context, name string, qtypes ...uint16) (uint16, error) {
	for _, t := range qtypes {
		rrs, err := r.query(ctx, name, t)
		if err != nil {
			return 0, err
		}
		if len(rrs) > 0 {
			return t, nil
		}
	}
	return 0, nil
}
