package listen

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1" // SNS SignatureVersion 1 is SHA1withRSA: verifying it is AWS's choice
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/mailblast/mailblast/feedback"
)

// ses is POST /webhooks/ses: an SNS message, verified, then a
// subscription answered or SES's notification applied.
func (h *Handler) ses(w http.ResponseWriter, r *http.Request) {
	if len(h.cfg.SNSCertHosts) == 0 {
		fail(w, http.StatusNotFound, "not-configured")
		return
	}
	body, ok := readBody(w, r, webhookLimit)
	if !ok {
		return
	}
	m, ok := feedback.ParseSNS(body)
	if !ok {
		fail(w, http.StatusBadRequest, "not-sns")
		return
	}
	if err := h.verifySNS(r.Context(), m); err != nil {
		h.cfg.Log.Warn("SNS message refused", "error", err.Error())
		if errors.Is(err, errCertFetch) {
			// SNS does not retry a 4xx: a certificate that could not be
			// fetched just now must not lose the notification.
			w.Header().Set("Retry-After", "60")
			fail(w, http.StatusServiceUnavailable, "certificate-unavailable")
			return
		}
		fail(w, http.StatusForbidden, "bad-signature")
		return
	}
	if len(h.cfg.SNSTopicARNs) > 0 && !slices.Contains(h.cfg.SNSTopicARNs, m.TopicArn) {
		fail(w, http.StatusForbidden, "topic-not-allowed")
		return
	}
	switch m.Type {
	case "SubscriptionConfirmation":
		h.confirmSubscription(w, r, m)
	case "Notification":
		h.sesNotification(w, r, body)
	default: // UnsubscribeConfirmation: nothing to do
		setResult(w, "ignored-"+m.Type)
	}
}

func (h *Handler) sesNotification(w http.ResponseWriter, r *http.Request, body []byte) {
	evs, err := feedback.ParseProvider("ses", body)
	if err != nil {
		fail(w, http.StatusBadRequest, "unreadable-payload")
		return
	}
	h.applyAll(w, r, evs)
}

// confirmSubscription GETs the SubscribeURL, from an allowed host only.
func (h *Handler) confirmSubscription(w http.ResponseWriter, r *http.Request, m feedback.SNSMessage) {
	u, err := h.allowedURL(m.SubscribeURL)
	if err == nil {
		_, err = h.get(r.Context(), u, 64<<10)
	}
	if err != nil {
		h.cfg.Log.Warn("SNS subscription not confirmed", "topic", m.TopicArn, "error", err.Error())
		fail(w, http.StatusBadGateway, "subscribe-failed")
		return
	}
	h.cfg.Log.Info("SNS subscription confirmed", "topic", m.TopicArn)
	setResult(w, "subscribed")
}

var (
	errBadSignature = errors.New("bad SNS signature")
	errCertFetch    = errors.New("SNS signing certificate not fetched")
)

// verifySNS checks m's signature with the certificate at SigningCertURL.
func (h *Handler) verifySNS(ctx context.Context, m feedback.SNSMessage) error {
	var hash crypto.Hash
	switch m.SignatureVersion {
	case "1":
		hash = crypto.SHA1
	case "2":
		hash = crypto.SHA256
	default:
		return fmt.Errorf("%w: SignatureVersion %q", errBadSignature, m.SignatureVersion)
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil {
		return fmt.Errorf("%w: signature is not base64", errBadSignature)
	}
	key, err := h.snsKey(ctx, m.SigningCertURL)
	if err != nil {
		return err
	}
	if err := rsa.VerifyPKCS1v15(key, hash, digest(hash, snsStringToSign(m)), sig); err != nil {
		return fmt.Errorf("%w: %w", errBadSignature, err)
	}
	return nil
}

func digest(hash crypto.Hash, s string) []byte {
	if hash == crypto.SHA1 {
		d := sha1.Sum([]byte(s))
		return d[:]
	}
	d := sha256.Sum256([]byte(s))
	return d[:]
}

// snsStringToSign is the canonical form SNS signs: name and value lines
// of the type's fields in byte order, Subject only when present.
func snsStringToSign(m feedback.SNSMessage) string {
	var b strings.Builder
	add := func(k, v string) { b.WriteString(k + "\n" + v + "\n") }
	add("Message", m.Message)
	add("MessageId", m.MessageId)
	if m.Type == "Notification" {
		if m.Subject != "" {
			add("Subject", m.Subject)
		}
	} else {
		add("SubscribeURL", m.SubscribeURL)
	}
	add("Timestamp", m.Timestamp)
	if m.Type != "Notification" {
		add("Token", m.Token)
	}
	add("TopicArn", m.TopicArn)
	add("Type", m.Type)
	return b.String()
}

// allowedURL parses raw and checks its host against SNSCertHosts: https,
// or http only to a loopback address the list names exactly (tests).
func (h *Handler) allowedURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("SNS URL %.80q: not an absolute URL", raw)
	}
	for _, p := range h.cfg.SNSCertHosts {
		if hostMatches(p, u) {
			return u, nil
		}
	}
	return nil, fmt.Errorf("SNS URL host %.80q is not in listen.sns_cert_hosts", u.Host)
}

// hostMatches: pattern is a host name whose "*" labels match one label
// each, with a port when the URL has one.
func hostMatches(pattern string, u *url.URL) bool {
	p := strings.ToLower(pattern)
	host := strings.ToLower(u.Host)
	if strings.EqualFold(u.Scheme, "http") {
		ip := net.ParseIP(u.Hostname())
		return ip != nil && ip.IsLoopback() && p == host
	}
	if !strings.EqualFold(u.Scheme, "https") {
		return false
	}
	if u.Port() == "" || strings.Contains(p, ":") {
		return labelsMatch(p, host)
	}
	return false
}

func labelsMatch(pattern, host string) bool {
	pl, hl := strings.Split(pattern, "."), strings.Split(host, ".")
	if len(pl) != len(hl) {
		return false
	}
	for i := range pl {
		if pl[i] != hl[i] && (pl[i] != "*" || hl[i] == "" || strings.Contains(hl[i], ":")) {
			return false
		}
	}
	return true
}

// certCache keeps the keys of certificates fetched, by URL: SNS signs
// with few certificates, and fetching one per message would be slow and
// a way to make listen fetch on demand.
type certCache struct {
	mu    sync.Mutex
	items map[string]certEntry
}

type certEntry struct{ key *rsa.PublicKey }

const maxCerts = 64

func (h *Handler) snsKey(ctx context.Context, raw string) (*rsa.PublicKey, error) {
	u, err := h.allowedURL(raw)
	if err != nil {
		return nil, err
	}
	h.certs.mu.Lock()
	e, ok := h.certs.items[u.String()]
	h.certs.mu.Unlock()
	if ok {
		return e.key, nil
	}
	key, err := h.fetchCert(ctx, u)
	if err != nil {
		return nil, err
	}
	h.certs.mu.Lock()
	if len(h.certs.items) >= maxCerts {
		clear(h.certs.items)
	}
	h.certs.items[u.String()] = certEntry{key}
	h.certs.mu.Unlock()
	return key, nil
}

func (h *Handler) fetchCert(ctx context.Context, u *url.URL) (*rsa.PublicKey, error) {
	b, err := h.get(ctx, u, 64<<10)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errCertFetch, err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("SNS certificate %s: no PEM certificate", u.Host)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("SNS certificate %s: %w", u.Host, err)
	}
	key, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("SNS certificate %s: not an RSA key", u.Host)
	}
	return key, nil
}

// get fetches u with the no-redirect client, reading at most limit bytes.
func (h *Handler) get(ctx context.Context, u *url.URL, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := h.cfg.Client.Do(req)
	if err != nil {
		var ue *url.Error // its text holds the whole URL, a SubscribeURL's token too
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("GET %s: %w", u.Host, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u.Host, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err == nil && int64(len(b)) > limit {
		err = fmt.Errorf("GET %s: more than %d bytes", u.Host, limit)
	}
	return b, err
}
