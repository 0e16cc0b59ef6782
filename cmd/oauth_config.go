package cmd

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/mailblast/mailblast/sender"
)

// checkOAuth2 validates smtp.oauth2 and smtp.auth, and gives the relay
// settings the oauth2 block, its paths made absolute so that resume works
// from any directory. Only paths are kept: the secrets stay in their files
// until a run reads them.
func (c *Config) checkOAuth2() []error {
	o, errs := oauth2Settings("smtp.oauth2", c.SMTP.OAuth, c.SMTP.Username)
	c.SMTP.OAuth2 = o
	return append(errs, nonNil(authNeeds("smtp", c.SMTP.Settings))...)
}

// relayOAuth2: a relay's auth and oauth2 are its own, like its username
// and password, never smtp.*'s: a token can only go to the relay it was
// configured for.
func relayOAuth2(key string, rc RelayConfig, rs *sender.Settings) []error {
	rs.Auth, rs.OAuth2 = rc.Auth, nil
	var errs []error
	if rc.OAuth2 != nil {
		rs.OAuth2, errs = oauth2Settings(key+".oauth2", *rc.OAuth2, rc.Username)
	}
	return append(errs, nonNil(authNeeds(key, *rs))...)
}

// oauth2Settings checks one oauth2 block under key: a refresh-token grant
// (token_url, client_id, refresh_token_file, optionally
// client_secret_file and scopes) or a token_file, for username. Nil when
// nothing is set.
func oauth2Settings(key string, o sender.OAuth2, username string) (*sender.OAuth2, []error) {
	if o.IsZero() {
		return nil, nil
	}
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	grant := o.TokenURL != "" || o.ClientID != "" || o.ClientSecretFile != "" || o.RefreshTokenFile != "" || len(o.Scopes) > 0
	switch {
	case o.TokenFile != "" && grant:
		add("%s sets token_file and a refresh-token grant (token_url, client_id, ...); use one", key)
	case o.TokenFile == "":
		for _, f := range []struct{ name, v string }{{"token_url", o.TokenURL}, {"client_id", o.ClientID}, {"refresh_token_file", o.RefreshTokenFile}} {
			if f.v == "" {
				add("%s.%s is not set; a refresh-token grant needs token_url, client_id and refresh_token_file (or set token_file alone)", key, f.name)
			}
		}
		if err := tokenURL(key+".token_url", o.TokenURL); err != nil {
			errs = append(errs, err)
		}
	}
	if username == "" {
		add("%s is set but the username is not: set it to the account the token is for", key)
	}
	o.ClientSecretFile, o.RefreshTokenFile, o.TokenFile = absIf(o.ClientSecretFile), absIf(o.RefreshTokenFile), absIf(o.TokenFile)
	o.Scopes = splitScopes(o.Scopes)
	return &o, errs
}

// tokenURL refuses a token endpoint the client secret and refresh token
// would reach in clear: https, or http on this host only (a test, a local
// proxy).
func tokenURL(key, raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "":
		return fmt.Errorf("%s is not a URL; use the provider's token endpoint, like https://oauth2.googleapis.com/token", key)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && loopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("%s must be an https URL: the refresh token and client secret would cross the network in clear", key)
}

func loopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

// splitScopes takes scopes as a list, or as one string the way OAuth
// writes them (space-separated), or both.
func splitScopes(in []string) []string {
	var out []string
	for _, s := range in {
		out = append(out, strings.Fields(strings.ReplaceAll(s, ",", " "))...)
	}
	return out
}

// authNeeds: a bearer mechanism needs an oauth2 block beside it.
func authNeeds(key string, s sender.Settings) error {
	if s.Auth.Bearer() && s.OAuth2 == nil {
		return fmt.Errorf("%s.auth is %s but %s.oauth2 is not set: set its token_url, client_id and refresh_token_file, or its token_file", key, s.Auth, key)
	}
	return nil
}

// needsPassword: the relay logs in with a password, not a token: a
// username without oauth2, or with auth plain or login.
func needsPassword(s sender.Settings) bool {
	return s.Username != "" && (s.OAuth2 == nil || s.Auth == sender.AuthPlain || s.Auth == sender.AuthLogin)
}
