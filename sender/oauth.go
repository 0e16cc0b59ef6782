package sender

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailblast/mailblast/safefile"
)

// OAuth2 is smtp.oauth2: where a relay's bearer tokens come from. Either
// a refresh-token grant (TokenURL, ClientID, ClientSecretFile,
// RefreshTokenFile, Scopes), or a TokenFile someone else keeps fresh. It
// holds file paths only: campaigns store it, and a secret is read for the
// run and never kept anywhere else.
type OAuth2 struct {
	TokenURL         string   `json:"token_url,omitempty" mapstructure:"token_url"`
	ClientID         string   `json:"client_id,omitempty" mapstructure:"client_id"`
	ClientSecretFile string   `json:"client_secret_file,omitempty" mapstructure:"client_secret_file"`
	RefreshTokenFile string   `json:"refresh_token_file,omitempty" mapstructure:"refresh_token_file"`
	Scopes           []string `json:"scopes,omitempty" mapstructure:"scopes"`
	TokenFile        string   `json:"token_file,omitempty" mapstructure:"token_file"`
}

// IsZero reports an oauth2 block with nothing set.
func (o OAuth2) IsZero() bool {
	return o.TokenURL == "" && o.ClientID == "" && o.ClientSecretFile == "" && o.RefreshTokenFile == "" &&
		len(o.Scopes) == 0 && o.TokenFile == ""
}

// TokenSource gives the bearer token a relay's AUTH presents. One serves
// every connection to a relay, so a token is fetched once, not once per
// connection. Its errors are *Error values of the AUTH command.
type TokenSource interface {
	// Token is a token believed valid, fetched or refreshed as needed.
	Token(ctx context.Context) (string, error)
	// Refused tells the source the relay refused tok and returns the one
	// to try instead: connections that saw the same token refused share
	// one refresh.
	Refused(ctx context.Context, tok string) (string, error)
}

// ErrTokenRefused is wrapped by the error of a refused token or refresh:
// the run stops (exit 77), and nobody is marked failed.
var ErrTokenRefused = errors.New("OAuth token refused")

// Token lifetimes and limits.
const (
	refreshEarly    = time.Minute      // refresh this long before expiry, at most
	tokenHTTPTimout = 30 * time.Second // one request to the token endpoint
	maxTokenFile    = 64 << 10
)

// NewTokenSource reads the secrets o names and returns the source of its
// tokens: a refresh-token grant, or the token file re-read at each login.
func NewTokenSource(o OAuth2) (TokenSource, error) {
	if o.TokenFile != "" {
		return &fileSource{path: o.TokenFile}, nil
	}
	refresh, err := readSecret("refresh_token_file", o.RefreshTokenFile)
	if err != nil {
		return nil, err
	}
	var secret string
	if o.ClientSecretFile != "" {
		if secret, err = readSecret("client_secret_file", o.ClientSecretFile); err != nil {
			return nil, err
		}
	}
	conf := oauth2.Config{ClientID: o.ClientID, ClientSecret: secret, Scopes: o.Scopes,
		// In the body, as Google and Microsoft take it: auto-detection
		// would send a refused refresh twice.
		Endpoint: oauth2.Endpoint{TokenURL: o.TokenURL, AuthStyle: oauth2.AuthStyleInParams}}
	client := &http.Client{Timeout: tokenHTTPTimout, Transport: &scopeTransport{scope: strings.Join(o.Scopes, " "), base: http.DefaultTransport},
		CheckRedirect: refuseRedirect}
	return &refreshSource{conf: conf, refresh: refresh, endpoint: endpointName(o.TokenURL), client: client, now: time.Now}, nil
}

// refuseRedirect: the request body holds the client secret and the
// refresh token, and a redirect would carry them to wherever it points
// (on to plain http, or another host). The endpoint must be named as it is.
func refuseRedirect(req *http.Request, _ []*http.Request) error {
	return fmt.Errorf("the token endpoint redirects to %s://%s; set smtp.oauth2.token_url to the endpoint itself (the secrets are not sent on)",
		req.URL.Scheme, req.URL.Host)
}

// scopeTransport adds the scopes to a refresh request. x/oauth2 sends
// none on refresh, and Microsoft then issues a token for whichever
// resource the grant names first: a refresh token consented for Graph as
// well as SMTP could get a token the relay refuses.
type scopeTransport struct {
	scope string
	base  http.RoundTripper
}

func (s *scopeTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if s.scope == "" || r.Body == nil {
		return s.base.RoundTrip(r)
	}
	b, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	if v, err := url.ParseQuery(string(b)); err == nil && v.Get("grant_type") == "refresh_token" && v.Get("scope") == "" {
		v.Set("scope", s.scope)
		b = []byte(v.Encode())
	}
	r2 := r.Clone(r.Context())
	r2.Body, r2.ContentLength, r2.GetBody = io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
	return s.base.RoundTrip(r2)
}

// readSecret reads a secret file whole, without surrounding space. The
// error names the setting and the path, never the content.
func readSecret(key, path string) (string, error) {
	if path == "" {
		return "", authError("smtp.oauth2." + key + " is not set")
	}
	b, err := safefile.ReadFile(path)
	if err == nil && len(b) > maxTokenFile {
		err = errors.New("larger than 64 KiB")
	}
	if err != nil {
		return "", &Error{Command: "AUTH", Message: fmt.Sprintf("smtp.oauth2.%s: %v", key, err), Relay: true, Permanent: true, Err: err}
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", authError(fmt.Sprintf("smtp.oauth2.%s %s is empty", key, path))
	}
	return s, nil
}

// endpointName is the token URL's scheme and host, for messages: a query
// or path could carry something nobody should read in a log.
func endpointName(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "the token endpoint"
	}
	return u.Scheme + "://" + u.Host
}

// refreshSource holds the current access token and the refresh token,
// which a token endpoint may rotate. mu is held across a refresh, so
// connections that need a token meanwhile wait for that one.
type refreshSource struct {
	conf     oauth2.Config
	client   *http.Client
	endpoint string
	now      func() time.Time

	mu      sync.Mutex
	refresh string
	tok     *oauth2.Token
	early   time.Duration // how long before tok's expiry it is replaced
}

func (s *refreshSource) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fresh() {
		return s.tok.AccessToken, nil
	}
	return s.fetch(ctx)
}

func (s *refreshSource) Refused(ctx context.Context, tok string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != nil && s.tok.AccessToken != tok && s.fresh() {
		return s.tok.AccessToken, nil // another connection refreshed it already
	}
	return s.fetch(ctx)
}

// fresh: the token is there and not about to expire. A token without an
// expiry is taken as valid until a relay refuses it.
func (s *refreshSource) fresh() bool {
	if s.tok == nil {
		return false
	}
	return s.tok.Expiry.IsZero() || s.now().Add(s.early).Before(s.tok.Expiry)
}

// fetch trades the refresh token for a new access token.
func (s *refreshSource) fetch(ctx context.Context) (string, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, s.client)
	// A source seeded with the refresh token alone refreshes at once.
	t, err := s.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: s.refresh}).Token()
	if err != nil {
		return "", s.fetchError(err)
	}
	if t.RefreshToken != "" {
		s.refresh = t.RefreshToken
	}
	s.tok, s.early = t, 0
	if !t.Expiry.IsZero() {
		// A quarter of the lifetime, at most a minute: a short-lived
		// token is still used for most of its life.
		s.early = min(refreshEarly, t.Expiry.Sub(s.now())/4)
	}
	return t.AccessToken, nil
}

// fetchError: a 4xx from the endpoint is a refusal (exit 77); anything
// else (no answer, 5xx, 429) is passing trouble, retried like a relay that
// is down. The message holds the endpoint's error code, never its body.
func (s *refreshSource) fetchError(err error) *Error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil && refreshRefused(re.Response.StatusCode) {
		return &Error{Command: "AUTH", Relay: true, Permanent: true, Err: ErrTokenRefused,
			Message: fmt.Sprintf("%s refused to refresh the OAuth token (HTTP %d%s): %s",
				s.endpoint, re.Response.StatusCode, errorCode(re.ErrorCode), refusalHint(re.ErrorCode))}
	}
	if errors.As(err, &re) && re.Response != nil {
		return &Error{Command: "AUTH", Relay: true, Message: fmt.Sprintf("%s answered HTTP %d to a token refresh; trying again later", s.endpoint, re.Response.StatusCode)}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // the URL is in the message already, cut to its host
	}
	return &Error{Command: "AUTH", Relay: true, Message: clip(fmt.Sprintf("token endpoint %s: %v", s.endpoint, err))}
}

// refreshRefused: the endpoint said no to these credentials; 408 and 429 only
// ask us to come back later.
func refreshRefused(status int) bool {
	return status/100 == 4 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests
}

// errorCode is RFC 6749's error code for a message, when it looks like
// one: the endpoint's text is not ours to print.
func errorCode(code string) string {
	if code == "" || strings.ContainsFunc(code, func(r rune) bool { return r != '_' && (r < 'a' || r > 'z') }) {
		return ""
	}
	return " " + code
}

// refusalHint says what to do about a refused refresh (RFC 6749 5.2).
func refusalHint(code string) string {
	switch code {
	case "invalid_client", "unauthorized_client":
		return "check smtp.oauth2.client_id and client_secret_file, then run mailblast resume"
	case "invalid_scope":
		return "check smtp.oauth2.scopes against what the refresh token was granted, then run mailblast resume"
	case "":
		// No OAuth error in the answer (an HTML page, a 404): most likely
		// not a token endpoint at all.
		return "no OAuth error came with it: check smtp.oauth2.token_url, then run mailblast resume"
	}
	return "the refresh token has expired or was revoked: get a new one for smtp.username, put it in smtp.oauth2.refresh_token_file, then run mailblast resume"
}

// fileSource is smtp.oauth2.token_file, kept fresh by something else: it
// is read at each login, so a token replaced meanwhile is picked up.
type fileSource struct{ path string }

func (f *fileSource) Token(context.Context) (string, error) {
	s, err := readSecret("token_file", f.path)
	if err != nil {
		return "", err
	}
	// The JSON a token tool writes, {"access_token": ...}, or the bare token.
	var t struct {
		AccessToken string `json:"access_token"`
	}
	if strings.HasPrefix(s, "{") {
		if json.Unmarshal([]byte(s), &t) != nil || t.AccessToken == "" {
			// Half written, or no token in it: sending it would hand the
			// relay whatever else the file holds (a refresh token).
			return "", badTokenFile("is JSON without an access_token, or not whole JSON")
		}
		return t.AccessToken, nil
	}
	if strings.ContainsAny(s, " \t\r\n") {
		return "", badTokenFile("holds more than one token (white space inside)")
	}
	return s, nil
}

// badTokenFile is a token_file that holds no usable token: the run stops
// (exit 77) with nobody marked failed, and the file's content is not shown.
func badTokenFile(why string) error {
	return &Error{Command: "AUTH", Relay: true, Permanent: true, Err: ErrTokenRefused,
		Message: "smtp.oauth2.token_file " + why + ": put one access token in it (bare, or as {\"access_token\": ...}), then run mailblast resume"}
}

func (f *fileSource) Refused(ctx context.Context, tok string) (string, error) {
	s, err := f.Token(ctx)
	if err == nil && s == tok {
		return "", &Error{Command: "AUTH", Relay: true, Permanent: true, Err: ErrTokenRefused,
			Message: "the relay refused the token in smtp.oauth2.token_file: put a fresh access token for smtp.username in it, then run mailblast resume"}
	}
	return s, err
}

// shareTokens makes the one token source all of a pool's connections
// use, reading its secrets before anything connects.
func (c *Config) shareTokens() error {
	if c.Tokens != nil || c.OAuth2 == nil {
		return nil
	}
	var err error
	c.Tokens, err = NewTokenSource(*c.OAuth2)
	return err
}
