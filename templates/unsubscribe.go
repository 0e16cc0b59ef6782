package templates

import (
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"net/url"
	"strings"

	"github.com/mailblast/mailblast/feedback"
	"github.com/mailblast/mailblast/safefile"
)

// unsubscribe renders List-Unsubscribe (RFC 2369) and, with a URL,
// List-Unsubscribe-Post (RFC 8058 one-click).
type unsubscribe struct {
	url, mailto *expander   // nil when not configured
	signed      *signedLink // nil: no signed one-click link
}

// signedLink is mailblast's own one-click link, BASE/u/TOKEN, served by
// `mailblast listen`. The token signs the campaign and row, so the link is
// the same on every attempt and a receiver cannot alter it to unsubscribe
// someone else.
type signedLink struct {
	base   string // without a trailing slash
	secret []byte
}

// MinUnsubscribeSecret is the shortest secret accepted, in bytes: as long
// as the HMAC-SHA256 key it becomes.
const MinUnsubscribeSecret = 32

// ErrShortSecret is returned for an unsubscribe secret under
// MinUnsubscribeSecret bytes.
var ErrShortSecret = errors.New("unsubscribe secret too short")

// ReadUnsubscribeSecret reads the secret file of the signed one-click
// link. Its bytes are the key, as they are: no trimming, so a trailing
// newline is part of it for the sender and for listen alike.
func ReadUnsubscribeSecret(path string) ([]byte, error) {
	b, err := safefile.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < MinUnsubscribeSecret {
		return nil, fmt.Errorf("%w: %d bytes, want at least %d (head -c 32 /dev/urandom | base64 > FILE)", ErrShortSecret, len(b), MinUnsubscribeSecret)
	}
	return b, nil
}

// CheckBaseURL accepts the base of the signed link: an https:// URL with
// a host and no query or fragment, or, for tests on one machine, http://
// to 127.0.0.1 or [::1] (no receiver elsewhere can reach those).
func CheckBaseURL(v string) error {
	if err := checkURIChars(v); err != nil {
		return err
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%w: %.60q is not an https:// URL with a host and no query", ErrBadUnsubscribe, v)
	}
	if strings.EqualFold(u.Scheme, "https") {
		return nil
	}
	if ip := net.ParseIP(u.Hostname()); strings.EqualFold(u.Scheme, "http") && ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%w: %.60q is not https:// (http:// only to 127.0.0.1 or [::1], for tests)", ErrBadUnsubscribe, v)
}

// OneClick is the signed one-click link: BaseURL/u/TOKEN, where TOKEN
// signs the campaign and row with the secret in SecretFile (at least
// MinUnsubscribeSecret bytes). BaseURL is https://, or http:// to
// 127.0.0.1 or [::1] for tests.
type OneClick struct {
	BaseURL    string `mapstructure:"base_url"`
	SecretFile string `mapstructure:"secret_file"`
}

// loadSignedLink checks the signed link's settings and reads its secret.
func loadSignedLink(fixed string, oc OneClick) (*signedLink, error) {
	base, secretFile := oc.BaseURL, oc.SecretFile
	if base == "" {
		return nil, nil
	}
	if fixed != "" {
		return nil, fmt.Errorf("%w: set unsubscribe.url or unsubscribe.base_url, not both", ErrBadUnsubscribe)
	}
	if err := CheckBaseURL(base); err != nil {
		return nil, err
	}
	if secretFile == "" {
		return nil, fmt.Errorf("%w: unsubscribe.base_url needs unsubscribe.secret_file", ErrBadUnsubscribe)
	}
	secret, err := ReadUnsubscribeSecret(secretFile)
	if err != nil {
		return nil, fmt.Errorf("unsubscribe.secret_file: %w", err)
	}
	return &signedLink{base: strings.TrimRight(base, "/"), secret: secret}, nil
}

// SignedLink is the one-click link of row of campaignID under base.
func SignedLink(base string, secret []byte, campaignID int64, row int) string {
	t := feedback.Target{CampaignID: campaignID, Row: row}
	return strings.TrimRight(base, "/") + "/u/" + feedback.SignToken(secret, feedback.PurposeUnsubscribe, t)
}

const (
	unsubscribeFieldName = "List-Unsubscribe"
	mailtoPrefix         = "mailto:"
	httpsPrefix          = "https://"
)

var listUnsubscribePost = []byte("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")

func (u *unsubscribe) fields(set map[string]struct{}) {
	for _, x := range []*expander{u.url, u.mailto} {
		if x != nil {
			x.fields(set)
		}
	}
}

// addUnsubscribe renders, checks and adds the fields.
func (st *renderState) addUnsubscribe(u *unsubscribe, data map[string]string, env Envelope) error {
	var uris []string
	if u.signed != nil {
		uris = append(uris, "<"+SignedLink(u.signed.base, u.signed.secret, env.CampaignID, env.Row)+">")
	}
	if u.url != nil {
		v, err := st.renderUnsubscribe(u.url, data, "URL")
		if err != nil {
			return err
		}
		if err := checkHTTPS(v); err != nil {
			return &FieldError{Header: unsubscribeFieldName, Err: err}
		}
		uris = append(uris, "<"+v+">")
	}
	if u.mailto != nil {
		v, err := st.renderUnsubscribe(u.mailto, data, "mailto")
		if err != nil {
			return err
		}
		if v, err = mailtoURI(v); err != nil {
			return &FieldError{Header: unsubscribeFieldName, Err: err}
		}
		uris = append(uris, "<"+v+">")
	}
	start := len(st.arena)
	var err error
	if st.arena, err = appendField(st.arena, unsubscribeFieldName, strings.Join(uris, ", ")); err != nil {
		st.arena = st.arena[:start]
		return &FieldError{Header: unsubscribeFieldName, Err: err}
	}
	st.fields = append(st.fields, fieldRef{start: start, end: len(st.arena)})
	if u.url != nil || u.signed != nil {
		st.fields = append(st.fields, fieldRef{raw: listUnsubscribePost})
	}
	return nil
}

// renderUnsubscribe executes x and refuses line breaks.
func (st *renderState) renderUnsubscribe(x *expander, data map[string]string, what string) (string, error) {
	st.val.Reset()
	if err := x.execute(&st.val, data); err != nil {
		return "", fmt.Errorf("unsubscribe %s: %w", what, err)
	}
	v := st.val.String()
	if err := checkValue(v); err != nil {
		return "", &FieldError{Header: unsubscribeFieldName, Err: err}
	}
	return trimWSP(v), nil
}

// checkHTTPS accepts an absolute https URL written only with the characters
// RFC 3986 allows.
func checkHTTPS(v string) error {
	if len(v) < len(httpsPrefix) || !strings.EqualFold(v[:len(httpsPrefix)], httpsPrefix) {
		return fmt.Errorf("%w: %.60q is not an https:// URL", ErrBadUnsubscribe, v)
	}
	if err := checkURIChars(v); err != nil {
		return err
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%w: %.60q is not a URL with a host", ErrBadUnsubscribe, v)
	}
	return nil
}

// mailtoURI turns "box@example.com", or the same with "mailto:" and a
// query, into a mailto URI, checking the address.
func mailtoURI(v string) (string, error) {
	rest := v
	if len(v) >= len(mailtoPrefix) && strings.EqualFold(v[:len(mailtoPrefix)], mailtoPrefix) {
		rest = v[len(mailtoPrefix):]
	}
	if err := checkURIChars(rest); err != nil {
		return "", err
	}
	addr, _, _ := strings.Cut(rest, "?")
	a, err := netmail.ParseAddress(addr)
	if err != nil || a.Address != addr {
		return "", fmt.Errorf("%w: %.60q is not a mailto address", ErrBadUnsubscribe, v)
	}
	return mailtoPrefix + rest, nil
}

// checkURIChars refuses characters RFC 3986 does not allow in a URI, such
// as spaces, angle brackets and anything outside ASCII: they would end the
// <URI> of the header early or be read differently by each receiver.
func checkURIChars(v string) error {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("-._~:/?#[]@!$&'()*+,;=%", c) >= 0 {
			continue
		}
		return fmt.Errorf("%w: character %q in %.60q must be percent-encoded (use urlquery)", ErrBadUnsubscribe, c, v)
	}
	return nil
}
