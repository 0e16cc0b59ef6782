package dovecottest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Message is one file of a Maildir folder.
type Message struct {
	File  string // path
	Flags string // Maildir info flags: S seen, T trashed (\Deleted), ...
	Raw   []byte
}

// Seen reports whether the message carries \Seen.
func (m Message) Seen() bool { return strings.Contains(m.Flags, "S") }

// Deleted reports whether the message carries \Deleted.
func (m Message) Deleted() bool { return strings.Contains(m.Flags, "T") }

var delivered atomic.Int64

// Deliver drops raw into folder ("" or "INBOX" for INBOX) the way a local
// delivery agent does: written in tmp/, renamed into new/.
func (s *Server) Deliver(t testing.TB, folder string, raw []byte) {
	t.Helper()
	dir := s.folderDir(folder)
	for _, d := range []string{"new", "cur", "tmp"} {
		must(t, os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	name := fmt.Sprintf("%d.M%dP%d.mailblast-test", time.Now().Unix(), delivered.Add(1), os.Getpid())
	tmp := filepath.Join(dir, "tmp", name)
	must(t, os.WriteFile(tmp, raw, 0o644))
	must(t, chownTree(dir, uidOf()))
	must(t, os.Rename(tmp, filepath.Join(dir, "new", name)))
}

func uidOf() int { uid, _ := mailUser(); return uid }

// Messages lists folder's messages, new/ and cur/, in file-name order.
func (s *Server) Messages(t testing.TB, folder string) []Message {
	t.Helper()
	var out []Message
	for _, sub := range []string{"new", "cur"} {
		entries, err := os.ReadDir(filepath.Join(s.folderDir(folder), sub))
		if os.IsNotExist(err) {
			continue
		}
		must(t, err)
		for _, e := range entries {
			p := filepath.Join(s.folderDir(folder), sub, e.Name())
			raw, err := os.ReadFile(p)
			must(t, err)
			_, flags, _ := strings.Cut(e.Name(), ":2,")
			out = append(out, Message{File: p, Flags: flags, Raw: raw})
		}
	}
	sort.Slice(out, func(i, j int) bool { return filepath.Base(out[i].File) < filepath.Base(out[j].File) })
	return out
}

func (s *Server) folderDir(folder string) string {
	if folder == "" || strings.EqualFold(folder, "INBOX") {
		return s.Maildir
	}
	return filepath.Join(s.Maildir, "."+folder)
}

// writeCert makes a self-signed certificate for 127.0.0.1 and localhost
// that is its own CA, so trusting the certificate file verifies it.
func writeCert(t testing.TB, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{Organization: []string{"mailblast dovecottest"}, CommonName: "localhost"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	must(t, err)
	must(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	// Dovecot's config process reads the key as root, before dropping
	// privileges: 0600 is enough.
	must(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
}
