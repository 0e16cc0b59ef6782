package listen

import (
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mailblast/mailblast/feedback"
)

// The headers of SendGrid's signed event webhook.
const (
	sendGridSigHeader = "X-Twilio-Email-Event-Webhook-Signature"
	sendGridTSHeader  = "X-Twilio-Email-Event-Webhook-Timestamp"
)

// sendGrid is POST /webhooks/sendgrid: ECDSA P-256 over timestamp+body.
func (h *Handler) sendGrid(w http.ResponseWriter, r *http.Request) {
	if h.cfg.SendGridKey == nil {
		fail(w, http.StatusNotFound, "not-configured")
		return
	}
	body, ok := readBody(w, r, webhookLimit)
	if !ok {
		return
	}
	sig, err := base64.StdEncoding.DecodeString(r.Header.Get(sendGridSigHeader))
	ts := r.Header.Get(sendGridTSHeader)
	sum := sha256.Sum256(append([]byte(ts), body...))
	if err != nil || ts == "" || !ecdsa.VerifyASN1(h.cfg.SendGridKey, sum[:], sig) {
		fail(w, http.StatusForbidden, "bad-signature")
		return
	}
	h.provider(w, r, "sendgrid", body)
}

// provider parses an authenticated payload and applies its events; it
// reports whether they were all stored.
func (h *Handler) provider(w http.ResponseWriter, r *http.Request, format string, body []byte) bool {
	evs, err := feedback.ParseProvider(format, body)
	if err != nil {
		fail(w, http.StatusBadRequest, "unreadable-payload")
		return false
	}
	return h.applyAll(w, r, evs)
}

// ParseSendGridKey reads SendGrid's verification key: base64 of the DER
// public key, as its settings page shows it (PEM is taken too).
func ParseSendGridKey(text []byte) (*ecdsa.PublicKey, error) {
	s := strings.TrimSpace(string(text))
	s = strings.TrimPrefix(s, "-----BEGIN PUBLIC KEY-----")
	s = strings.TrimSuffix(s, "-----END PUBLIC KEY-----")
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		return nil, fmt.Errorf("not base64: %w", err)
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, err
	}
	key, ok := pub.(*ecdsa.PublicKey)
	if !ok || key.Curve.Params().Name != "P-256" {
		return nil, errors.New("not an ECDSA P-256 public key")
	}
	return key, nil
}

// mailgunSkew is how far a Mailgun timestamp may be from now: older
// bodies are replays.
const mailgunSkew = 5 * time.Minute

// mailgun is POST /webhooks/mailgun: HMAC-SHA256 of timestamp+token, a
// fresh timestamp, and a token not seen before.
func (h *Handler) mailgun(w http.ResponseWriter, r *http.Request) {
	if h.cfg.MailgunKey == nil {
		fail(w, http.StatusNotFound, "not-configured")
		return
	}
	body, ok := readBody(w, r, webhookLimit)
	if !ok {
		return
	}
	sig, err := feedback.ParseMailgunSignature(body)
	if err != nil {
		fail(w, http.StatusBadRequest, "unreadable-payload")
		return
	}
	if result := h.checkMailgun(sig); result != "" {
		fail(w, http.StatusForbidden, result)
		return
	}
	if !h.tokens.reserve(sig.Token, h.cfg.Now()) {
		fail(w, http.StatusForbidden, "reused-token")
		return
	}
	h.tokens.settle(sig.Token, h.provider(w, r, "mailgun", body))
}

// checkMailgun returns "" for a good signature with a fresh timestamp.
func (h *Handler) checkMailgun(sig feedback.MailgunSignature) string {
	mac := hmac.New(sha256.New, h.cfg.MailgunKey)
	mac.Write([]byte(sig.Timestamp + sig.Token))
	got, err := hex.DecodeString(sig.Signature)
	if err != nil || sig.Token == "" || subtle.ConstantTimeCompare(got, mac.Sum(nil)) != 1 {
		return "bad-signature"
	}
	ts, err := strconv.ParseInt(sig.Timestamp, 10, 64)
	if d := h.cfg.Now().Sub(time.Unix(ts, 0)); err != nil || d > mailgunSkew || d < -mailgunSkew {
		return "stale-timestamp"
	}
	return ""
}

// tokenSet remembers the Mailgun tokens used within the skew window. A
// token is reserved while its request runs and kept only if the events
// were stored: a 503 lets Mailgun's retry through.
type tokenSet struct {
	mu   sync.Mutex
	seen map[string]time.Time // token -> when it may be forgotten
}

func newTokenSet() *tokenSet { return &tokenSet{seen: map[string]time.Time{}} }

func (s *tokenSet) reserve(token string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t, until := range s.seen {
		if now.After(until) {
			delete(s.seen, t)
		}
	}
	if _, used := s.seen[token]; used {
		return false
	}
	s.seen[token] = now.Add(2 * mailgunSkew)
	return true
}

func (s *tokenSet) settle(token string, stored bool) {
	if stored {
		return
	}
	s.mu.Lock()
	delete(s.seen, token)
	s.mu.Unlock()
}
