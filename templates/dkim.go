package templates

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"

	"github.com/mailblast/mailblast/safefile"
)

// signer signs rendered messages with one key.
type signer struct {
	opts   dkim.SignOptions
	org    string // organizational domain of opts.Domain, for DMARC alignment
	record string // the DNS TXT record that publishes the public key
}

// signedHeaders are the fields the signature covers when the message has
// them, in h= order. RFC 6376 section 5.4.1 and the bulk-sender rules want
// at least From, To, Subject, Date, Message-ID and the List-Unsubscribe
// pair.
var signedHeaders = []string{
	"From", "Sender", "Reply-To", "To", "Cc", "Subject", "Date", "Message-ID",
	"In-Reply-To", "References", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
	"List-Id", "List-Unsubscribe", "List-Unsubscribe-Post", "Feedback-ID",
}

// builderHeaderNames are written by the builder into every message.
var builderHeaderNames = []string{"To", "Date", "Message-ID", "MIME-Version", "Content-Type"}

// addDKIM loads the key and works out the signed fields. A constant From
// is checked for alignment here, a templated one for each message.
func (t *Template) addDKIM(opts *Options) error {
	if opts.DKIM == nil {
		return nil
	}
	s, err := newSigner(opts.DKIM, t.signedHeaderKeys())
	if err != nil {
		return fmt.Errorf("dkim: %w", err)
	}
	if t.from.constant {
		if err := s.checkAligned(t.from.addr); err != nil {
			return fmt.Errorf("dkim: %s: %w", t.name, err)
		}
	}
	t.signer = s
	return nil
}

// signedHeaderKeys returns the h= list: each field of signedHeaders that
// a message of t can have, twice. The second name has no field left to
// match and signs its absence (RFC 6376 section 5.4.2), so nobody can add
// a second From or List-Unsubscribe without breaking the signature. A field
// a row leaves out (an empty Reply-To) is signed absent twice.
func (t *Template) signedHeaderKeys() []string {
	var keys []string
	for _, name := range signedHeaders {
		present := t.HasHeader(name)
		for _, b := range builderHeaderNames {
			present = present || b == name
		}
		if name == "Content-Transfer-Encoding" {
			present = t.rootNoRow == nil || t.rootNoRow.kind != nodeMultipart
		}
		if present {
			keys = append(keys, name, name)
		}
	}
	return keys
}

func newSigner(o *DKIMOptions, headerKeys []string) (*signer, error) {
	domain, err := checkDomain("domain", o.Domain)
	if err != nil {
		return nil, err
	}
	selector, err := checkDomain("selector", o.Selector)
	if err != nil {
		return nil, err
	}
	if o.KeyFile == "" {
		return nil, errors.New("no key file")
	}
	key, record, err := LoadDKIMKey(o.KeyFile)
	if err != nil {
		return nil, err
	}
	s := &signer{
		opts: dkim.SignOptions{
			Domain:                 domain,
			Selector:               selector,
			Signer:                 key,
			Hash:                   crypto.SHA256,
			HeaderCanonicalization: dkim.CanonicalizationRelaxed,
			BodyCanonicalization:   dkim.CanonicalizationRelaxed,
			HeaderKeys:             headerKeys,
		},
		org:    OrgDomain(domain),
		record: record,
	}
	// Sign once now: a key the library cannot use fails at Load.
	var buf bytes.Buffer
	if err := s.sign(&buf, []byte("From: a@"+domain+"\r\n\r\n")); err != nil {
		return nil, err
	}
	return s, nil
}

// sign writes the DKIM-Signature field for msg, then msg, to w. The signer
// works out a DKIM-Signature per message (the body hash differs), so the
// cost is spread over the goroutines that call Render.
func (s *signer) sign(w *bytes.Buffer, msg []byte) error {
	ds, err := dkim.NewSigner(&s.opts)
	if err != nil {
		return err
	}
	if _, err := ds.Write(msg); err != nil {
		_ = ds.Close() // the write's error is the one to report
		return err
	}
	if err := ds.Close(); err != nil {
		return fmt.Errorf("dkim: %w", err)
	}
	w.WriteString(ds.Signature())
	w.Write(msg)
	return nil
}

// checkAlignment checks a templated From against the signing domain.
func (t *Template) checkAlignment(st *renderState, data map[string]string) error {
	st.val.Reset()
	if err := t.from.x.execute(&st.val, data); err != nil {
		return fmt.Errorf("header %q: %w", t.from.spec.name, err)
	}
	addr, err := t.from.address(st.val.String())
	if err != nil {
		return err
	}
	if err := t.signer.checkAligned(addr); err != nil {
		return &FieldError{Header: "From", Err: err}
	}
	return nil
}

// checkAligned reports whether the From address addr and the signing
// domain share their organizational domain (DMARC relaxed alignment, RFC
// 7489 section 3.1.1). Without it the signature is valid but does not let
// the message pass DMARC.
func (s *signer) checkAligned(addr string) error {
	at := strings.LastIndexByte(addr, '@')
	domain, err := idna.Lookup.ToASCII(addr[at+1:])
	if err != nil || OrgDomain(domain) != s.org {
		return fmt.Errorf("%w: From %s, d=%s", ErrDKIMAlignment, addr, s.opts.Domain)
	}
	return nil
}

// OrgDomain returns the organizational domain (DMARC, RFC 7489 3.2): the
// public suffix and one label more. A name the list does not know is its
// own. Signing and doctor decide alignment with it alike.
func OrgDomain(domain string) string {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	if org, err := publicsuffix.EffectiveTLDPlusOne(domain); err == nil {
		return org
	}
	return domain
}

// checkDomain checks a domain or selector and returns its ASCII form.
func checkDomain(what, name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("no %s", what)
	}
	ascii, err := idna.Lookup.ToASCII(name)
	if err != nil {
		return "", fmt.Errorf("%s %q: %v", what, name, err)
	}
	if len(ascii) > 253 {
		return "", fmt.Errorf("%s %q: too long", what, name)
	}
	for _, label := range strings.Split(ascii, ".") {
		if !validLabel(label) {
			return "", fmt.Errorf("%s %q: %q is not a DNS label", what, name, label)
		}
	}
	return ascii, nil
}

// isLDH reports whether c may appear in a domain label: a letter, a digit
// or a hyphen.
func isLDH(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-'
}

func validLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		if c := l[i]; !isLDH(c) {
			return false
		}
	}
	return true
}

// LoadDKIMKey reads a PEM private key as signing does (unencrypted
// PKCS#1 or PKCS#8 RSA of at least 1024 bits, or PKCS#8 Ed25519) and
// returns it with the TXT record that publishes it.
func LoadDKIMKey(path string) (crypto.Signer, string, error) {
	src, err := safefile.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	block, _ := pem.Decode(src)
	switch {
	case block == nil:
		return nil, "", fmt.Errorf("%s: no PEM block", path)
	case block.Type == "ENCRYPTED PRIVATE KEY" || block.Headers["Proc-Type"] != "":
		return nil, "", fmt.Errorf("%s: the key is encrypted; mailblast needs it unencrypted", path)
	}
	var key any
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, "", fmt.Errorf("%s: PEM block %q: want RSA PRIVATE KEY (PKCS#1) or PRIVATE KEY (PKCS#8)", path, block.Type)
	}
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if bits := k.N.BitLen(); bits < 1024 {
			return nil, "", fmt.Errorf("%s: RSA key of %d bits; DKIM needs at least 1024 (RFC 8301), 2048 is usual", path, bits)
		}
		der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err != nil {
			return nil, "", err
		}
		return k, "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PrivateKey:
		pub := k.Public().(ed25519.PublicKey)
		return k, "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub), nil
	default:
		return nil, "", fmt.Errorf("%s: %T keys are not supported; want RSA or Ed25519", path, key)
	}
}

// DKIMRecord returns the DNS name and TXT record that publish the public
// half of the signing key, for a check or a hint to the user; both are
// empty when messages are not signed.
func (t *Template) DKIMRecord() (name, value string) {
	if t.signer == nil {
		return "", ""
	}
	return t.signer.opts.Selector + "._domainkey." + t.signer.opts.Domain, t.signer.record
}
