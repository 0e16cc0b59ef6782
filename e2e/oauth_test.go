package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"time"

	"github.com/mailblast/mailblast/sender/sendertest"
)

// The OAuth client's secrets in these tests: none may appear in any
// output or in the state directory.
const (
	oauthAccount      = "sender@example.com"
	oauthClientID     = "mailblast-test-client"
	oauthClientSecret = "cl1ent-s3cret-never-shown"
	oauthRefreshToken = "1//refresh-t0ken-never-shown"
)

// tokenEndpoint is an OAuth 2.0 token endpoint on loopback: it trades the
// refresh token for access tokens that expire after expiresIn, counts the
// refreshes, and can refuse them.
type tokenEndpoint struct {
	t   *testing.T
	url string

	mu        sync.Mutex
	expiresIn int                  // seconds; 0: no expires_in
	refuse    string               // an RFC 6749 error code to answer 400 with
	issued    map[string]time.Time // access token -> expiry
	order     []string             // tokens in the order issued
	refreshes int
	scope     string // of the last refresh
}

func newTokenEndpoint(t *testing.T, expiresIn int) *tokenEndpoint {
	te := &tokenEndpoint{t: t, expiresIn: expiresIn, issued: map[string]time.Time{}}
	srv := httptest.NewServer(http.HandlerFunc(te.serve)) // 127.0.0.1:0
	t.Cleanup(srv.Close)
	te.url = srv.URL + "/token"
	return te
}

func (te *tokenEndpoint) serve(w http.ResponseWriter, r *http.Request) {
	te.mu.Lock()
	defer te.mu.Unlock()
	te.refreshes++
	f := r.PostFormValue
	te.scope = f("scope")
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method != http.MethodPost || f("grant_type") != "refresh_token":
		te.fail(w, "unsupported_grant_type")
	case f("client_id") != oauthClientID || f("client_secret") != oauthClientSecret:
		te.fail(w, "invalid_client")
	case f("refresh_token") != oauthRefreshToken:
		te.fail(w, "invalid_grant")
	case te.refuse != "":
		te.fail(w, te.refuse)
	default:
		tok := fmt.Sprintf("ya29.access-%d-never-shown", len(te.order)+1)
		te.order = append(te.order, tok)
		resp := map[string]any{"access_token": tok, "token_type": "Bearer", "scope": f("scope")}
		te.issued[tok] = time.Now().Add(time.Hour)
		if te.expiresIn > 0 {
			resp["expires_in"] = te.expiresIn
			te.issued[tok] = time.Now().Add(time.Duration(te.expiresIn) * time.Second)
		}
		json.NewEncoder(w).Encode(resp)
	}
}

func (te *tokenEndpoint) fail(w http.ResponseWriter, code string) {
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprintf(w, `{"error":%q,"error_description":"refused for %s"}`, code, oauthRefreshToken)
}

// valid: the endpoint issued tok, it has not expired, and it is not one
// of the first revoked tokens issued.
func (te *tokenEndpoint) valid(tok string, revoked int) bool {
	te.mu.Lock()
	defer te.mu.Unlock()
	exp, ok := te.issued[tok]
	for i := 0; i < revoked && i < len(te.order); i++ {
		ok = ok && te.order[i] != tok
	}
	return ok && time.Now().Before(exp)
}

func (te *tokenEndpoint) count() int {
	te.mu.Lock()
	defer te.mu.Unlock()
	return te.refreshes
}

// bearerRelay takes only bearer tokens, for oauthAccount, over STARTTLS,
// offering mechs (nil: both); accept decides each token. It counts the
// tokens it refused.
type bearerRelay struct {
	*sendertest.Server
	mu      sync.Mutex
	refused int
}

func newBearerRelay(t *testing.T, mechs []string, accept func(tok string) bool) *bearerRelay {
	br := &bearerRelay{}
	br.Server = sendertest.NewServer(t, sendertest.Options{TLS: true, BearerMechanisms: mechs,
		Bearer: func(user, tok string) bool {
			ok := user == oauthAccount && accept(tok)
			if !ok {
				br.mu.Lock()
				br.refused++
				br.mu.Unlock()
			}
			return ok
		}})
	return br
}

func (br *bearerRelay) refusals() int {
	br.mu.Lock()
	defer br.mu.Unlock()
	return br.refused
}

// oauthWorkspace points the binary at relay over verified STARTTLS with
// the refresh-token grant of te, its secrets in files.
func oauthWorkspace(t *testing.T, relay *bearerRelay, te *tokenEndpoint, rows int, extra ...string) *workspace {
	w := forServer(t, relay.Server, rows)
	w.write("client-secret", oauthClientSecret+"\n")
	w.write("refresh-token", oauthRefreshToken+"\n")
	w.env = append(w.env, "MAILBLAST_SMTP_TLS=starttls", "SSL_CERT_FILE="+relay.CertFile(),
		"MAILBLAST_SMTP_USERNAME="+oauthAccount,
		"MAILBLAST_SMTP_OAUTH2_TOKEN_URL="+te.url, "MAILBLAST_SMTP_OAUTH2_CLIENT_ID="+oauthClientID,
		"MAILBLAST_SMTP_OAUTH2_CLIENT_SECRET_FILE=client-secret", "MAILBLAST_SMTP_OAUTH2_REFRESH_TOKEN_FILE=refresh-token",
		"MAILBLAST_SMTP_OAUTH2_SCOPES=https://mail.google.com/")
	w.env = append(w.env, extra...)
	return w
}

// noSecrets fails if any output given, or any file under the state
// directory, holds a secret or an access token.
func noSecrets(t *testing.T, w *workspace, outputs ...string) {
	t.Helper()
	secrets := []string{oauthClientSecret, oauthRefreshToken, "never-shown"}
	for _, s := range outputs {
		for _, sec := range secrets {
			if strings.Contains(s, sec) {
				t.Errorf("secret %q shown:\n%s", sec, s)
			}
		}
	}
	filepath.Walk(filepath.Join(w.dir, "state"), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			b, _ := os.ReadFile(p)
			for _, sec := range secrets {
				if bytes.Contains(b, []byte(sec)) {
					t.Errorf("secret %q in %s", sec, p)
				}
			}
		}
		return nil
	})
}

// TestOAuthMechanisms: XOAUTH2 picked by default where the relay offers
// only it (Microsoft 365), OAUTHBEARER set by smtp.auth, and XOAUTH2 set
// where both are offered; each delivers everyone with one refresh.
func TestOAuthMechanisms(t *testing.T) {
	for _, c := range []struct {
		name, auth string
		offer      []string
	}{
		{"default picks XOAUTH2", "", []string{"XOAUTH2"}},
		{"oauthbearer", "oauthbearer", []string{"OAUTHBEARER"}},
		{"xoauth2 of both", "xoauth2", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			te := newTokenEndpoint(t, 3600)
			relay := newBearerRelay(t, c.offer, func(tok string) bool { return te.valid(tok, 0) })
			w := oauthWorkspace(t, relay, te, 5, "MAILBLAST_SMTP_AUTH="+c.auth)
			out, stderr, code := w.run("send", "list.csv")
			if code != 0 || relay.Count() != 5 || te.count() != 1 {
				t.Fatalf("exit %d, %d delivered, %d refreshes; want 0, 5, 1\n%s", code, relay.Count(), te.count(), stderr)
			}
			te.mu.Lock()
			scope := te.scope
			te.mu.Unlock()
			if scope != "https://mail.google.com/" {
				t.Errorf("refresh asked for scope %q, want smtp.oauth2.scopes", scope)
			}
			noSecrets(t, w, out, stderr, w.mustRun(0, "status"), w.mustRun(0, "report"))
		})
	}
}

// TestOAuthTestSend: test-send logs in with the token as send does, and
// a refused refresh is exit 77 there too.
func TestOAuthTestSend(t *testing.T) {
	te := newTokenEndpoint(t, 3600)
	relay := newBearerRelay(t, nil, func(tok string) bool { return te.valid(tok, 0) })
	w := oauthWorkspace(t, relay, te, 3)
	w.mustRun(0, "test-send", "list.csv", "--to", "me@example.org")
	if relay.Count() != 1 || te.count() != 1 {
		t.Fatalf("%d delivered, %d refreshes; want 1, 1", relay.Count(), te.count())
	}
	te.mu.Lock()
	te.refuse = "invalid_grant"
	te.mu.Unlock()
	out, stderr, code := w.run("test-send", "list.csv", "--to", "me@example.org")
	if code != 77 || !strings.Contains(stderr, "refresh_token_file") {
		t.Errorf("refused refresh: exit %d, want 77\n%s", code, stderr)
	}
	noSecrets(t, w, out, stderr)
}

// TestOAuthTokenShared: many connections, one refresh.
func TestOAuthTokenShared(t *testing.T) {
	te := newTokenEndpoint(t, 3600)
	relay := newBearerRelay(t, nil, func(tok string) bool { return te.valid(tok, 0) })
	w := oauthWorkspace(t, relay, te, 40, "MAILBLAST_SMTP_MAX_MESSAGES_PER_CONNECTION=4")
	w.mustRun(0, "send", "list.csv", "--connections", "4")
	if relay.Count() != 40 || relay.Connections() < 10 || te.count() != 1 {
		t.Fatalf("%d delivered over %d connections with %d refreshes; want 40, at least 10, 1", relay.Count(), relay.Connections(), te.count())
	}
}

// TestOAuthExpiryRefresh: tokens that live 4 s, and a relay that refuses
// an expired one. A run of several seconds refreshes before expiry: no
// login is refused, and everyone is delivered.
func TestOAuthExpiryRefresh(t *testing.T) {
	te := newTokenEndpoint(t, 4)
	relay := newBearerRelay(t, nil, func(tok string) bool { return te.valid(tok, 0) })
	w := oauthWorkspace(t, relay, te, 24, "MAILBLAST_SMTP_MAX_MESSAGES_PER_CONNECTION=1")
	w.mustRun(0, "send", "list.csv", "--connections", "2", "--rate", "3/s")
	if relay.Count() != 24 || te.count() < 2 || relay.refusals() != 0 {
		t.Fatalf("%d delivered, %d refreshes, %d logins refused; want 24, at least 2, none", relay.Count(), te.count(), relay.refusals())
	}
}

// TestOAuthRefusedThenRefreshed: the relay refuses the first token
// (revoked); every connection that met it shares one refresh, then logs in.
func TestOAuthRefusedThenRefreshed(t *testing.T) {
	for _, mech := range []string{"xoauth2", "oauthbearer"} {
		t.Run(mech, func(t *testing.T) {
			te := newTokenEndpoint(t, 3600)
			relay := newBearerRelay(t, nil, func(tok string) bool { return te.valid(tok, 1) })
			w := oauthWorkspace(t, relay, te, 20, "MAILBLAST_SMTP_AUTH="+mech)
			w.mustRun(0, "send", "list.csv", "--connections", "4")
			if relay.Count() != 20 || te.count() != 2 || relay.refusals() == 0 {
				t.Fatalf("%d delivered, %d refreshes, %d refusals; want 20, 2, some", relay.Count(), te.count(), relay.refusals())
			}
		})
	}
}

// TestOAuthRefusalStopsRun: a refused refresh, and a fresh token refused
// too, stop the run with exit 77 and a message saying what to do; nobody
// is failed, no secret is shown, and resume delivers once it is fixed.
func TestOAuthRefusalStopsRun(t *testing.T) {
	t.Run("refresh refused", func(t *testing.T) {
		te := newTokenEndpoint(t, 3600)
		te.refuse = "invalid_grant"
		relay := newBearerRelay(t, nil, func(tok string) bool { return te.valid(tok, 0) })
		w := oauthWorkspace(t, relay, te, 8)
		out, stderr, code := w.run("send", "list.csv", "--connections", "4")
		wantStopped(t, w, relay, code, stderr, "invalid_grant", "refresh_token_file", "resume")
		noSecrets(t, w, out, stderr)
		te.mu.Lock()
		te.refuse = ""
		te.mu.Unlock()
		w.mustRun(0, "resume")
		if relay.Count() != 8 {
			t.Errorf("resume delivered %d of 8", relay.Count())
		}
	})
	t.Run("fresh token refused", func(t *testing.T) {
		te := newTokenEndpoint(t, 3600)
		relay := newBearerRelay(t, nil, func(string) bool { return false })
		w := oauthWorkspace(t, relay, te, 8)
		out, stderr, code := w.run("send", "list.csv", "--connections", "1")
		wantStopped(t, w, relay, code, stderr, "freshly fetched", "smtp.username", "resume")
		noSecrets(t, w, out, stderr)
		if te.count() != 2 {
			t.Errorf("%d refreshes, want 2 (the token, then one more after the refusal)", te.count())
		}
	})
}

func wantStopped(t *testing.T, w *workspace, relay *bearerRelay, code int, stderr string, says ...string) {
	t.Helper()
	if code != 77 || relay.Count() != 0 {
		t.Fatalf("exit %d, %d delivered; want 77, none\n%s", code, relay.Count(), stderr)
	}
	for _, s := range says {
		if !strings.Contains(stderr, s) {
			t.Errorf("stderr does not say %q:\n%s", s, stderr)
		}
	}
	if st := w.status(); st.Failed != 0 || st.Pending != st.Total {
		t.Errorf("status after the refusal: %+v; want nobody failed, all pending", st)
	}
}

// TestOAuthTokenFile: a static token from smtp.oauth2.token_file, and
// when the relay refuses it, exit 77 naming the file.
func TestOAuthTokenFile(t *testing.T) {
	const static = "static-access-token-never-shown"
	relay := newBearerRelay(t, nil, func(tok string) bool { return tok == static })
	w := forServer(t, relay.Server, 6)
	w.write("token", static+"\n")
	w.env = append(w.env, "MAILBLAST_SMTP_TLS=starttls", "SSL_CERT_FILE="+relay.CertFile(),
		"MAILBLAST_SMTP_USERNAME="+oauthAccount, "MAILBLAST_SMTP_OAUTH2_TOKEN_FILE=token")
	out, stderr, code := w.run("send", "list.csv")
	if code != 0 || relay.Count() != 6 {
		t.Fatalf("exit %d, %d delivered; want 0, 6\n%s", code, relay.Count(), stderr)
	}
	noSecrets(t, w, out, stderr)

	relay = newBearerRelay(t, nil, func(tok string) bool { return tok == static })
	stale := forServer(t, relay.Server, 6)
	stale.write("token", "expired-token-never-shown\n")
	stale.env = append(stale.env, "MAILBLAST_SMTP_TLS=starttls", "SSL_CERT_FILE="+relay.CertFile(),
		"MAILBLAST_SMTP_USERNAME="+oauthAccount, "MAILBLAST_SMTP_OAUTH2_TOKEN_FILE=token")
	out, stderr, code = stale.run("send", "list.csv")
	wantStopped(t, stale, relay, code, stderr, "token_file")
	noSecrets(t, stale, out, stderr)
}

// TestOAuthPlainAgainstBearerRelay: smtp.auth plain where the relay takes
// only tokens is a clear configuration error, and nothing is sent.
func TestOAuthPlainAgainstBearerRelay(t *testing.T) {
	relay := newBearerRelay(t, nil, func(string) bool { return true })
	w := forServer(t, relay.Server, 3)
	w.env = append(w.env, "MAILBLAST_SMTP_TLS=starttls", "SSL_CERT_FILE="+relay.CertFile(),
		"MAILBLAST_SMTP_USERNAME="+oauthAccount, "MAILBLAST_SMTP_PASSWORD=pw", "MAILBLAST_SMTP_AUTH=plain")
	_, stderr, code := w.run("send", "list.csv")
	if code != 78 || relay.Count() != 0 || !strings.Contains(stderr, "smtp.auth is plain") || !strings.Contains(stderr, "XOAUTH2") {
		t.Fatalf("exit %d, %d delivered; want 78, none, and a message naming smtp.auth and what is offered\n%s", code, relay.Count(), stderr)
	}
	if st := w.status(); st.Failed != 0 {
		t.Errorf("%d failed, want none", st.Failed)
	}
}

// TestOAuthDoctor: doctor's AUTH check knows the bearer mechanisms: with
// --auth it logs in with a token; a password where the relay takes only
// tokens is a FAIL that points at smtp.oauth2. (No DNS server answers
// here: only the auth finding is looked at.)
func TestOAuthDoctor(t *testing.T) {
	const noDNS = "127.0.0.1:9"
	te := newTokenEndpoint(t, 3600)
	relay := newBearerRelay(t, []string{"XOAUTH2"}, func(tok string) bool { return te.valid(tok, 0) })
	w := oauthWorkspace(t, relay, te, 2)
	got, rep := runDoctor(t, w, noDNS, 1, "--auth") // warnings: no DNS
	wantStatuses(t, got, map[string]string{"auth": "OK"}, rep)
	if te.count() != 1 || !strings.Contains(fmt.Sprint(rep), "login accepted with XOAUTH2") {
		t.Errorf("%d refreshes; want doctor --auth to log in with XOAUTH2\n%+v", te.count(), rep)
	}
	pw := forServer(t, relay.Server, 2)
	pw.env = append(pw.env, "MAILBLAST_SMTP_TLS=starttls", "SSL_CERT_FILE="+relay.CertFile(),
		"MAILBLAST_SMTP_USERNAME="+oauthAccount, "MAILBLAST_SMTP_PASSWORD=pw")
	got, rep = runDoctor(t, pw, noDNS, 78)
	wantStatuses(t, got, map[string]string{"auth": "FAIL"}, rep)
	if !strings.Contains(fmt.Sprint(rep), "smtp.oauth2") {
		t.Errorf("the auth finding does not point at smtp.oauth2:\n%+v", rep)
	}
}

// TestOAuthEndpointDown: a token endpoint that does not answer is passing
// trouble, like a relay that is down: retried, then exit 69, nobody failed.
func TestOAuthEndpointDown(t *testing.T) {
	te := newTokenEndpoint(t, 3600)
	relay := newBearerRelay(t, nil, func(tok string) bool { return te.valid(tok, 0) })
	w := oauthWorkspace(t, relay, te, 4, "MAILBLAST_SMTP_OAUTH2_TOKEN_URL=http://127.0.0.1:9/token",
		"MAILBLAST_SMTP_CONNECT_ATTEMPTS=2", "MAILBLAST_SMTP_BACKOFF=100ms")
	out, stderr, code := w.run("send", "list.csv", "--connections", "1")
	if code != 69 || !strings.Contains(stderr, "token endpoint http://127.0.0.1:9") {
		t.Fatalf("exit %d, want 69 naming the endpoint\n%s", code, stderr)
	}
	if st := w.status(); st.Failed != 0 || st.Pending != 4 {
		t.Errorf("status %+v; want nobody failed", st)
	}
	noSecrets(t, w, out, stderr)
}
