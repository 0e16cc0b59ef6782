package sender

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// AuthMech is smtp.auth: the SASL mechanism to log in with. The zero value
// picks the strongest one the relay offers that the configuration can
// satisfy (OAuthBearer, XOAuth2 with smtp.oauth2; else Plain, Login).
type AuthMech string

// The mechanisms mailblast logs in with.
const (
	AuthAuto        AuthMech = ""
	AuthPlain       AuthMech = "plain"
	AuthLogin       AuthMech = "login"
	AuthXOAuth2     AuthMech = "xoauth2"
	AuthOAuthBearer AuthMech = "oauthbearer"
)

// ErrAuthMech is a mechanism other than the four.
var ErrAuthMech = errors.New("use plain, login, xoauth2 or oauthbearer")

// ParseAuthMech reads "plain", "login", "xoauth2", "oauthbearer", or ""
// for the default.
func ParseAuthMech(s string) (AuthMech, error) {
	m := AuthMech(s)
	if m != AuthAuto && !slices.Contains(passwordMechs, m) && !slices.Contains(bearerMechs, m) {
		return AuthAuto, fmt.Errorf("%q: %w", s, ErrAuthMech)
	}
	return m, nil
}

// UnmarshalText reads a name ParseAuthMech accepts.
func (m *AuthMech) UnmarshalText(b []byte) error {
	v, err := ParseAuthMech(string(b))
	if err != nil {
		return fmt.Errorf("AUTH mechanism %w", err)
	}
	*m = v
	return nil
}

// Bearer reports an OAuth 2.0 mechanism, which logs in with a token.
func (m AuthMech) Bearer() bool { return slices.Contains(bearerMechs, m) }

// wire is the mechanism's name in EHLO and AUTH.
func (m AuthMech) wire() string { return strings.ToUpper(string(m)) }

// In order of preference: OAUTHBEARER is the standard (RFC 7628), XOAUTH2
// what Microsoft 365 offers; PLAIN takes one round trip, LOGIN two.
var (
	bearerMechs   = []AuthMech{AuthOAuthBearer, AuthXOAuth2}
	passwordMechs = []AuthMech{AuthPlain, AuthLogin}
)

// ErrInsecureAuth refuses to send a password over plaintext.
var ErrInsecureAuth = errors.New("refusing to authenticate over a connection without TLS (set smtp.tls to starttls or tls, or smtp.allow_insecure_auth: true for a trusted local relay)")

// ChooseAuth is the mechanism cfg logs in with at a relay that offers
// mechs (EHLO's AUTH parameters): smtp.auth if the relay offers it, else
// the first offered that the configuration can satisfy. The error says
// what is offered and what to set.
func ChooseAuth(cfg *Config, mechs string) (AuthMech, error) {
	offered := strings.Fields(strings.ToUpper(mechs))
	if len(offered) == 0 {
		return cfg.Auth, authError("smtp.username is set but the relay offers no AUTH: use its submission port (587 or 465), or unset smtp.username")
	}
	if cfg.Auth != AuthAuto {
		if !slices.Contains(offered, cfg.Auth.wire()) {
			return cfg.Auth, authError(fmt.Sprintf("smtp.auth is %s but the relay offers %s; set smtp.auth to one of those, or leave it unset", cfg.Auth, offeredText(mechs)))
		}
		return cfg.Auth, nil
	}
	for _, m := range cfg.usableMechs() {
		if slices.Contains(offered, m.wire()) {
			return m, nil
		}
	}
	if cfg.oauth() {
		return AuthAuto, authError(fmt.Sprintf("the relay offers %s, neither XOAUTH2 nor OAUTHBEARER, and no password is set beside smtp.oauth2: give the account a password, or use a relay that takes OAuth 2.0 tokens", offeredText(mechs)))
	}
	return AuthAuto, authError(fmt.Sprintf("the relay offers %s, neither PLAIN nor LOGIN: set smtp.oauth2 if it takes OAuth 2.0 tokens", offeredText(mechs)))
}

// usableMechs are the mechanisms the configuration has credentials for,
// best first: tokens with smtp.oauth2, a password otherwise or besides.
func (c *Config) usableMechs() []AuthMech {
	if !c.oauth() {
		return passwordMechs
	}
	if c.Password == "" {
		return bearerMechs
	}
	return append(slices.Clone(bearerMechs), passwordMechs...)
}

func (c *Config) oauth() bool { return c.Tokens != nil || c.OAuth2 != nil }

func offeredText(mechs string) string {
	if strings.TrimSpace(mechs) == "" {
		return "no AUTH"
	}
	return "AUTH " + strings.TrimSpace(mechs)
}

func authError(msg string) *Error {
	return &Error{Command: "AUTH", Message: msg, Relay: true, Permanent: true}
}

// auth logs in over stream, the connection the SMTP session runs on. Whether
// it is private is decided from the stream itself (a completed TLS
// handshake), never from a setting, so no mode or typo can send the
// password, or a token, in clear; AllowInsecureAuth is the only way to.
func auth(ctx context.Context, c *smtp.Client, cfg *Config, stream net.Conn) error {
	if cfg.Username == "" {
		return nil
	}
	if !tlsDone(stream) && !cfg.AllowInsecureAuth {
		return &Error{Command: "AUTH", Message: ErrInsecureAuth.Error(), Relay: true, Permanent: true, Err: ErrInsecureAuth}
	}
	_, mechs := c.Extension("AUTH")
	mech, err := ChooseAuth(cfg, mechs)
	if err != nil {
		return err
	}
	if mech.Bearer() {
		return bearerAuth(ctx, c, cfg, mech)
	}
	client := sasl.NewPlainClient("", cfg.Username, cfg.Password)
	if mech == AuthLogin {
		client = sasl.NewLoginClient(cfg.Username, cfg.Password)
	}
	return loginError(c.Auth(client))
}

// loginError classifies the reply to AUTH. A rejected login is final for
// the run, whatever the code says about the session: retrying would only
// lock the account.
func loginError(err error) error {
	if err == nil {
		return nil
	}
	e := Classify("AUTH", err)
	e.Permanent = e.Permanent || e.Code == 535
	return e
}

// tlsDone reports whether stream is a TLS connection whose handshake
// completed.
func tlsDone(stream net.Conn) bool {
	tc, ok := stream.(*tls.Conn)
	return ok && tc.ConnectionState().HandshakeComplete
}
