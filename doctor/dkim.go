package doctor

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/mailblast/mailblast/templates"
)

// ErrDKIMRecord is a DKIM key record that cannot be used.
var ErrDKIMRecord = errors.New("DKIM record")

// KeyFromFile derives the public key from a PEM private key file, read
// exactly as signing reads it (templates.LoadDKIMKey).
func KeyFromFile(path string) (crypto.PublicKey, error) {
	key, _, err := templates.LoadDKIMKey(path)
	if err != nil {
		return nil, err
	}
	return key.Public(), nil
}

// ParseDKIMKey reads the public key of a DKIM key record (RFC 6376 3.6.1):
// k= rsa (the default) with p= a SubjectPublicKeyInfo, or the bare
// RSAPublicKey some publish; k=ed25519 with p= the 32-byte key (RFC 8463).
func ParseDKIMKey(record string) (crypto.PublicKey, error) {
	tags := map[string]string{}
	for _, part := range strings.Split(record, ";") {
		k, v, _ := strings.Cut(part, "=")
		tags[strings.ToLower(strings.TrimSpace(k))] = strings.Join(strings.Fields(v), "")
	}
	if v, ok := tags["v"]; ok && v != "DKIM1" {
		return nil, fmt.Errorf("%w: v=%s, want DKIM1", ErrDKIMRecord, v)
	}
	p, ok := tags["p"]
	switch {
	case !ok:
		return nil, fmt.Errorf("%w: no p= tag", ErrDKIMRecord)
	case p == "":
		return nil, fmt.Errorf("%w: p= is empty: the key is revoked", ErrDKIMRecord)
	}
	der, err := base64.StdEncoding.DecodeString(p)
	if err != nil {
		return nil, fmt.Errorf("%w: p= is not base64: %w", ErrDKIMRecord, err)
	}
	return keyOfType(strings.ToLower(tags["k"]), der)
}

func keyOfType(k string, der []byte) (crypto.PublicKey, error) {
	switch k {
	case "", "rsa":
		if pub, err := x509.ParsePKIXPublicKey(der); err == nil {
			if _, ok := pub.(*rsa.PublicKey); ok {
				return pub, nil
			}
			return nil, fmt.Errorf("%w: k=rsa but p= holds a %T", ErrDKIMRecord, pub)
		}
		pub, err := x509.ParsePKCS1PublicKey(der)
		if err != nil {
			return nil, fmt.Errorf("%w: p= is not an RSA public key", ErrDKIMRecord)
		}
		return pub, nil
	case "ed25519":
		if len(der) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: k=ed25519 but p= holds %d bytes, want %d", ErrDKIMRecord, len(der), ed25519.PublicKeySize)
		}
		return ed25519.PublicKey(der), nil
	}
	return nil, fmt.Errorf("%w: unknown key type k=%s", ErrDKIMRecord, k)
}

// SameKey reports whether two public keys are the same key.
func SameKey(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

// keyName describes a key for a finding: "RSA-2048", "Ed25519".
func keyName(k crypto.PublicKey) string {
	switch k := k.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA-%d", k.N.BitLen())
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", k)
}
