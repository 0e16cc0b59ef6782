// Package listentest signs webhook payloads the way SNS, SendGrid and
// Mailgun do, for tests of `mailblast listen`: an SNS stand-in serving its
// signing certificate and SubscribeURL over TLS on 127.0.0.1, a SendGrid
// ECDSA key and Mailgun's HMAC. The signing code is written from the
// providers' documentation, apart from listen's verifying code.
package listentest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// SNS is a stand-in for Amazon SNS: it signs messages with its own RSA
// key and serves the certificate at /cert.pem and the SubscribeURL at
// /subscribe, over TLS on 127.0.0.1.
type SNS struct {
	Server     *httptest.Server
	key        *rsa.PrivateKey
	certPEM    []byte
	subscribed atomic.Int32
	certGets   atomic.Int32
}

// NewSNS starts the stand-in; it stops with the test.
func NewSNS(t testing.TB) *SNS {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sns.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	s := &SNS{key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	mux := http.NewServeMux()
	mux.HandleFunc("/cert.pem", func(w http.ResponseWriter, r *http.Request) {
		s.certGets.Add(1)
		_, _ = w.Write(s.certPEM)
	})
	mux.HandleFunc("/subscribe", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("Token") == "tok" {
			s.subscribed.Add(1)
		}
		_, _ = w.Write([]byte("<ConfirmSubscriptionResponse/>"))
	})
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/cert.pem", http.StatusFound)
	})
	s.Server = httptest.NewTLSServer(mux)
	t.Cleanup(s.Server.Close)
	return s
}

// Host is the stand-in's host:port, for listen.sns_cert_hosts.
func (s *SNS) Host() string { return strings.TrimPrefix(s.Server.URL, "https://") }

// CAFile writes the stand-in's TLS certificate to a file in dir, for
// SSL_CERT_FILE.
func (s *SNS) CAFile(t testing.TB, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "sns-ca.pem")
	der := s.Server.Certificate().Raw
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Subscribed counts the GETs of the SubscribeURL.
func (s *SNS) Subscribed() int { return int(s.subscribed.Load()) }

// CertGets counts the GETs of the certificate.
func (s *SNS) CertGets() int { return int(s.certGets.Load()) }

// Message is an SNS message as posted.
type Message struct {
	Type, MessageId, Token, TopicArn, Subject, Message, Timestamp string
	SignatureVersion, Signature, SigningCertURL, SubscribeURL     string `json:",omitempty"`
	UnsubscribeURL                                                string `json:",omitempty"`
}

// Notification is a signed Notification carrying message (SES's JSON).
func (s *SNS) Notification(topic, message, version string) Message {
	m := Message{Type: "Notification", MessageId: "m-" + time.Now().Format("150405.000000000"), TopicArn: topic,
		Subject: "Amazon SES Email Event Notification", Message: message, Timestamp: time.Now().UTC().Format(time.RFC3339),
		SigningCertURL: s.Server.URL + "/cert.pem", UnsubscribeURL: s.Server.URL + "/unsubscribe"}
	s.Sign(&m, version)
	return m
}

// SubscriptionConfirmation is a signed confirmation request for topic.
func (s *SNS) SubscriptionConfirmation(topic string) Message {
	m := Message{Type: "SubscriptionConfirmation", MessageId: "sub-1", Token: "tok", TopicArn: topic,
		Message: "You have chosen to subscribe to the topic " + topic, Timestamp: time.Now().UTC().Format(time.RFC3339),
		SigningCertURL: s.Server.URL + "/cert.pem", SubscribeURL: s.Server.URL + "/subscribe?Action=ConfirmSubscription&Token=tok"}
	s.Sign(&m, "1")
	return m
}

// Sign signs m as SNS does: SignatureVersion 1 is SHA1withRSA, 2 is
// SHA256withRSA, over the type's fields as "Name\nvalue\n" in byte order.
func (s *SNS) Sign(m *Message, version string) {
	m.SignatureVersion = version
	var fields []string
	if m.Type == "Notification" {
		fields = []string{"Message", m.Message, "MessageId", m.MessageId}
		if m.Subject != "" {
			fields = append(fields, "Subject", m.Subject)
		}
		fields = append(fields, "Timestamp", m.Timestamp, "TopicArn", m.TopicArn, "Type", m.Type)
	} else {
		fields = []string{"Message", m.Message, "MessageId", m.MessageId, "SubscribeURL", m.SubscribeURL,
			"Timestamp", m.Timestamp, "Token", m.Token, "TopicArn", m.TopicArn, "Type", m.Type}
	}
	var b strings.Builder
	for i := 0; i < len(fields); i += 2 {
		b.WriteString(fields[i] + "\n" + fields[i+1] + "\n")
	}
	hash, sum := crypto.SHA256, sha256.Sum256([]byte(b.String()))
	digest := sum[:]
	if version == "1" {
		s1 := sha1.Sum([]byte(b.String()))
		hash, digest = crypto.SHA1, s1[:]
	}
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, hash, digest)
	if err != nil {
		panic(err)
	}
	m.Signature = base64.StdEncoding.EncodeToString(sig)
}

// JSON is m as SNS posts it.
func (m Message) JSON() []byte {
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// SendGridKey is a generated ECDSA P-256 key and its public half as
// SendGrid's settings page shows it (base64 DER).
type SendGridKey struct {
	Key    *ecdsa.PrivateKey
	Public string
}

// NewSendGridKey generates a key.
func NewSendGridKey(t testing.TB) SendGridKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return SendGridKey{Key: k, Public: base64.StdEncoding.EncodeToString(der)}
}

// Sign is the X-Twilio-Email-Event-Webhook-Signature of timestamp+body.
func (k SendGridKey) Sign(timestamp string, body []byte) string {
	sum := sha256.Sum256(append([]byte(timestamp), body...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.Key, sum[:])
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// MailgunBody is a Mailgun webhook body: the signature block (HMAC-SHA256
// of timestamp+token with key) and eventData, a JSON object.
func MailgunBody(key []byte, timestamp, token, eventData string) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(timestamp + token))
	sig := map[string]string{"timestamp": timestamp, "token": token, "signature": hex.EncodeToString(mac.Sum(nil))}
	b, err := json.Marshal(map[string]any{"signature": sig, "event-data": json.RawMessage(eventData)})
	if err != nil {
		panic(err)
	}
	return b
}
