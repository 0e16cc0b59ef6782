package sender

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailblast/mailblast/sender/sendertest"
)

const (
	testRefresh = "refresh-secret-value"
	testSecret  = "client-secret-value"
)

// endpoint is a token endpoint on loopback that counts refreshes; reply
// writes each answer.
type endpoint struct {
	url   string
	n     atomic.Int32
	scope atomic.Value
}

func newEndpoint(t *testing.T, reply func(w http.ResponseWriter, n int32)) *endpoint {
	e := &endpoint{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.PostFormValue("refresh_token") != testRefresh || r.PostFormValue("client_secret") != testSecret {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client"}`)
			return
		}
		e.scope.Store(r.PostFormValue("scope"))
		w.Header().Set("Content-Type", "application/json")
		reply(w, e.n.Add(1))
	}))
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

// issue answers access-N with the given lifetime in seconds.
func issue(lifetime int) func(http.ResponseWriter, int32) {
	return func(w http.ResponseWriter, n int32) {
		fmt.Fprintf(w, `{"access_token":"access-%d","token_type":"Bearer","expires_in":%d}`, n, lifetime)
	}
}

func secretFile(t *testing.T, name, content string) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func grant(t *testing.T, url string) OAuth2 {
	return OAuth2{TokenURL: url, ClientID: "id", ClientSecretFile: secretFile(t, "secret", testSecret),
		RefreshTokenFile: secretFile(t, "refresh", testRefresh), Scopes: []string{"a", "b"}}
}

func newSource(t *testing.T, o OAuth2) *refreshSource {
	ts, err := NewTokenSource(o)
	if err != nil {
		t.Fatal(err)
	}
	return ts.(*refreshSource)
}

// TestTokenFetchedOnce: concurrent logins share one refresh, which asks
// for the configured scopes.
func TestTokenFetchedOnce(t *testing.T) {
	e := newEndpoint(t, issue(3600))
	src := newSource(t, grant(t, e.url))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if tok, err := src.Token(context.Background()); err != nil || tok != "access-1" {
				t.Errorf("token %q, %v", tok, err)
			}
		})
	}
	wg.Wait()
	if e.n.Load() != 1 || e.scope.Load() != "a b" {
		t.Errorf("%d refreshes with scope %q; want 1 with \"a b\"", e.n.Load(), e.scope.Load())
	}
}

// TestTokenRefusedRefreshesOnce: connections that saw the same token
// refused share one refresh; a token refused after it was replaced costs
// nothing.
func TestTokenRefusedRefreshesOnce(t *testing.T) {
	e := newEndpoint(t, issue(3600))
	src := newSource(t, grant(t, e.url))
	ctx := context.Background()
	first, _ := src.Token(ctx)
	for range 3 {
		if tok, err := src.Refused(ctx, first); err != nil || tok != "access-2" {
			t.Fatalf("after refusal: %q, %v", tok, err)
		}
	}
	if e.n.Load() != 2 {
		t.Errorf("%d refreshes, want 2", e.n.Load())
	}
	if tok, _ := src.Refused(ctx, "access-2"); tok != "access-3" {
		t.Errorf("the current token refused: got %q, want a refresh", tok)
	}
}

// TestTokenRefreshedBeforeExpiry: a token is replaced a quarter of its
// lifetime (at most a minute) before it expires.
func TestTokenRefreshedBeforeExpiry(t *testing.T) {
	e := newEndpoint(t, issue(400))
	src := newSource(t, grant(t, e.url))
	now := time.Now()
	src.now = func() time.Time { return now }
	ctx := context.Background()
	src.Token(ctx)
	now = now.Add(330 * time.Second) // 70 s left: still good
	if tok, _ := src.Token(ctx); tok != "access-1" {
		t.Errorf("refreshed with 70 s left: %q", tok)
	}
	now = now.Add(20 * time.Second) // 50 s left: within the minute
	if tok, _ := src.Token(ctx); tok != "access-2" {
		t.Errorf("not refreshed with 50 s left: %q", tok)
	}
}

// TestRefreshRefused: a 4xx is a refusal (ErrTokenRefused, permanent),
// with the error code and what to do, and none of the secrets or the
// endpoint's description; a 5xx or no answer is passing trouble.
func TestRefreshRefused(t *testing.T) {
	refuse := func(w http.ResponseWriter, _ int32) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":"invalid_grant","error_description":"bad %s"}`, testRefresh)
	}
	e := newEndpoint(t, refuse)
	_, err := newSource(t, grant(t, e.url)).Token(context.Background())
	var se *Error
	if !errors.Is(err, ErrTokenRefused) || !errors.As(err, &se) || !se.Permanent || se.Command != "AUTH" {
		t.Fatalf("refused refresh: %#v", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "invalid_grant") || !strings.Contains(msg, "refresh_token_file") || strings.Contains(msg, testRefresh) {
		t.Errorf("message %q", msg)
	}
	down := newEndpoint(t, func(w http.ResponseWriter, _ int32) { w.WriteHeader(http.StatusServiceUnavailable) })
	_, err = newSource(t, grant(t, down.url)).Token(context.Background())
	if errors.Is(err, ErrTokenRefused) || !errors.As(err, &se) || se.Permanent {
		t.Errorf("503: %v, want passing trouble", err)
	}
	busy := newEndpoint(t, func(w http.ResponseWriter, _ int32) { w.WriteHeader(http.StatusTooManyRequests) })
	_, err = newSource(t, grant(t, busy.url)).Token(context.Background())
	if errors.Is(err, ErrTokenRefused) || !errors.As(err, &se) || se.Permanent {
		t.Errorf("429: %v, want passing trouble", err)
	}
	gone := grant(t, "http://127.0.0.1:1/token?key="+testSecret)
	_, err = newSource(t, gone).Token(context.Background())
	if !errors.As(err, &se) || se.Permanent || strings.Contains(err.Error(), testSecret) {
		t.Errorf("no endpoint: %v, want passing trouble without the URL's query", err)
	}
}

// TestTokenFile: a bare token or a token tool's JSON; refused while the
// file still holds it, it stops the run.
func TestTokenFile(t *testing.T) {
	ctx := context.Background()
	for content, want := range map[string]string{"bare-token": "bare-token", `{"access_token":"tok","expires_in":3599}`: "tok"} {
		src, _ := NewTokenSource(OAuth2{TokenFile: secretFile(t, "token", content)})
		if tok, err := src.Token(ctx); tok != want || err != nil {
			t.Errorf("%s: %q, %v", content, tok, err)
		}
	}
	path := secretFile(t, "token", "old")
	src, _ := NewTokenSource(OAuth2{TokenFile: path})
	if _, err := src.Refused(ctx, "old"); !errors.Is(err, ErrTokenRefused) {
		t.Errorf("refused token still in the file: %v", err)
	}
	os.WriteFile(path, []byte("new\n"), 0o600)
	if tok, err := src.Refused(ctx, "old"); tok != "new" || err != nil {
		t.Errorf("file replaced meanwhile: %q, %v", tok, err)
	}
}

func TestChooseAuth(t *testing.T) {
	tokens := &fileSource{}
	for _, c := range []struct {
		cfg     Config
		offered string
		want    AuthMech
		err     string
	}{
		{Config{Password: "p"}, "LOGIN PLAIN XOAUTH2", AuthPlain, ""},
		{Config{Tokens: tokens}, "PLAIN LOGIN XOAUTH2 OAUTHBEARER", AuthOAuthBearer, ""},
		{Config{Tokens: tokens}, "PLAIN XOAUTH2", AuthXOAuth2, ""},
		{Config{Tokens: tokens, Password: "p"}, "PLAIN", AuthPlain, ""},
		{Config{Tokens: tokens}, "PLAIN LOGIN", "", "neither XOAUTH2 nor OAUTHBEARER, and no password"},
		{Config{Password: "p"}, "XOAUTH2 OAUTHBEARER", "", "set smtp.oauth2"},
		{Config{Password: "p"}, "", "", "offers no AUTH"},
		{Config{Settings: Settings{Auth: AuthPlain}, Password: "p"}, "XOAUTH2 OAUTHBEARER", AuthPlain, "smtp.auth is plain but the relay offers AUTH XOAUTH2 OAUTHBEARER"},
		{Config{Settings: Settings{Auth: AuthLogin}, Tokens: tokens, Password: "p"}, "PLAIN LOGIN XOAUTH2", AuthLogin, ""},
	} {
		got, err := ChooseAuth(&c.cfg, c.offered)
		switch {
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("%+v at %q: %q, %v; want %q", c.cfg.Auth, c.offered, got, err, c.want)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("at %q: %v, want an error saying %q", c.offered, err, c.err)
		}
	}
}

func TestXOAuth2InitialResponse(t *testing.T) {
	mech, ir, _ := (&xoauth2Client{username: "u@example.com", token: "T"}).Start()
	if mech != "XOAUTH2" || string(ir) != "user=u@example.com\x01auth=Bearer T\x01\x01" {
		t.Errorf("%s %q", mech, base64.StdEncoding.EncodeToString(ir))
	}
}

// countingSource hands out tok1 first, and tok2 once tok1 is refused.
type countingSource struct {
	mu      sync.Mutex
	tok     string
	refused int
}

func (c *countingSource) Token(context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tok, nil
}

func (c *countingSource) Refused(_ context.Context, tok string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refused++
	c.tok = "tok2"
	return c.tok, nil
}

// TestBearerLoginRetriedOnce: over STARTTLS, a refused token is reported
// to the source and the login tried once more on the same connection; a
// second refusal is ErrTokenRefused, permanent.
func TestBearerLoginRetriedOnce(t *testing.T) {
	for _, mech := range []AuthMech{AuthXOAuth2, AuthOAuthBearer} {
		srv := sendertest.NewServer(t, sendertest.Options{TLS: true,
			Bearer: func(user, tok string) bool { return user == "u" && tok == "tok2" }})
		cfg := &Config{Settings: Settings{Host: srv.Host(), Port: srv.Port(), Username: "u", Auth: mech, Timeout: 10 * time.Second, Helo: "localhost"},
			TLSConfig: srv.ClientTLSConfig()}
		src := &countingSource{tok: "tok1"}
		cfg.Tokens = src
		cn, err := dial(context.Background(), cfg)
		if err != nil || src.refused != 1 {
			t.Fatalf("%s: %v after %d refusals", mech, err, src.refused)
		}
		cn.close()
		src.tok = "tok3"
		cfg.Tokens = &fileSource{path: secretFile(t, "token", "tok3")}
		_, err = dial(context.Background(), cfg)
		var se *Error
		if !errors.Is(err, ErrTokenRefused) || !errors.As(err, &se) || !se.Permanent {
			t.Errorf("%s: a token refused twice: %v", mech, err)
		}
	}
}

// TestTokenEndpointRedirectRefused: the refresh request carries the client
// secret and the refresh token; a redirect must not carry them on.
func TestTokenEndpointRedirectRefused(t *testing.T) {
	var stolen atomic.Int32
	thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.PostFormValue("refresh_token") != "" || r.PostFormValue("client_secret") != "" {
			stolen.Add(1)
		}
		fmt.Fprint(w, `{"access_token":"x","token_type":"Bearer","expires_in":3600}`)
	}))
	t.Cleanup(thief.Close)
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, thief.URL+"/steal", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirect.Close)
	_, err := newSource(t, grant(t, redirect.URL)).Token(context.Background())
	if err == nil || stolen.Load() != 0 {
		t.Fatalf("token via a redirect: %v; the other host got the secrets %d times", err, stolen.Load())
	}
	if strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), testRefresh) {
		t.Errorf("message shows a secret: %v", err)
	}
}

// TestTokenFileNotWhole: a token file that is half-written JSON, or JSON
// without an access token, or several lines, is refused without its
// content being sent (it may hold a refresh token) or shown.
func TestTokenFileNotWhole(t *testing.T) {
	for _, content := range []string{`{"refresh_token":"1//REFRESH","access_token":"ya29`, `{"refresh_token":"1//REFRESH"}`, "tok\n1//REFRESH"} {
		src, _ := NewTokenSource(OAuth2{TokenFile: secretFile(t, "token", content)})
		tok, err := src.Token(context.Background())
		if tok != "" || !errors.Is(err, ErrTokenRefused) || strings.Contains(err.Error(), "REFRESH") {
			t.Errorf("%q: token %q, err %v; want no token, a refusal without the content", content, tok, err)
		}
	}
}

// TestRefreshRefusedNotOAuth: a 4xx without an OAuth error (an HTML page
// at a mistyped token_url) points at token_url, not at the refresh token.
func TestRefreshRefusedNotOAuth(t *testing.T) {
	page := newEndpoint(t, func(w http.ResponseWriter, _ int32) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, "<html><body>Bad Request</body></html>")
	})
	_, err := newSource(t, grant(t, page.url)).Token(context.Background())
	if !errors.Is(err, ErrTokenRefused) || !strings.Contains(err.Error(), "token_url") || strings.Contains(err.Error(), "expired") {
		t.Errorf("400 with an HTML page: %v", err)
	}
}
