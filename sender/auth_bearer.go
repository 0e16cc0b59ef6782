package sender

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// bearerAuth logs in with the relay's shared token. A token the relay
// refuses (535, or OAUTHBEARER's error challenge) is reported to the token
// source, which refreshes it once for all connections, and the login is
// tried once more with the new one before the run gives up.
func bearerAuth(ctx context.Context, c *smtp.Client, cfg *Config, mech AuthMech) error {
	tokens, err := cfg.tokenSource()
	if err != nil {
		return err
	}
	tok, err := tokens.Token(ctx)
	if err != nil {
		return err
	}
	err = c.Auth(bearerClient(mech, cfg, tok))
	if !tokenRefused(err) {
		return loginError(err)
	}
	if tok, err = tokens.Refused(ctx, tok); err != nil {
		return err
	}
	err = c.Auth(bearerClient(mech, cfg, tok))
	if tokenRefused(err) {
		return relayRefusedToken(cfg, mech, err)
	}
	return loginError(err)
}

// tokenSource is the pool's shared source, or one made for a probe.
func (c *Config) tokenSource() (TokenSource, error) {
	if c.Tokens != nil {
		return c.Tokens, nil
	}
	if c.OAuth2 == nil {
		return nil, authError("smtp.auth is " + string(c.Auth) + " but smtp.oauth2 is not set")
	}
	return NewTokenSource(*c.OAuth2)
}

func bearerClient(mech AuthMech, cfg *Config, tok string) sasl.Client {
	if mech == AuthXOAuth2 {
		return &xoauth2Client{username: cfg.Username, token: tok}
	}
	return sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: cfg.Username, Token: tok, Host: cfg.Host, Port: cfg.Port})
}

// tokenRefused: the relay said no to the token itself. XOAUTH2 ends in
// 535 after its error challenge; go-sasl's OAUTHBEARER client stops at the
// challenge (334 with a JSON status) and returns it as an error.
func tokenRefused(err error) bool {
	var se *smtp.SMTPError
	var be *sasl.OAuthBearerError
	return errors.As(err, &be) || errors.As(err, &se) && (se.Code == 535 || se.Code == 334)
}

// relayRefusedToken is a fresh token refused too: the account, the scope
// or the client's consent is wrong, which no retry cures.
func relayRefusedToken(cfg *Config, mech AuthMech, err error) *Error {
	e := &Error{Command: "AUTH", Relay: true, Permanent: true, Err: ErrTokenRefused}
	var se *smtp.SMTPError
	var be *sasl.OAuthBearerError
	how := ""
	switch {
	case errors.As(err, &se):
		e.Code, e.Enhanced = se.Code, fromReply("AUTH", se).Enhanced
	case errors.As(err, &be):
		how = ", status " + strconv.Quote(clip(be.Status))
	}
	e.Message = clip(fmt.Sprintf("the relay refused a freshly fetched OAuth token (%s%s) for %s: check that smtp.username is the account the token was issued for, that the client was granted the SMTP scope, and that SMTP AUTH is enabled for the account; then run mailblast resume",
		mech.wire(), how, cfg.Username))
	return e
}

// xoauth2Client is Google's and Microsoft's XOAUTH2, which go-sasl no
// longer has: one initial response "user=U^Aauth=Bearer T^A^A". A refused
// token gets a 334 challenge (a JSON status) that the client answers
// with an empty line; the relay then replies 535.
type xoauth2Client struct {
	username, token string
	challenged      bool
}

func (x *xoauth2Client) Start() (string, []byte, error) {
	return "XOAUTH2", []byte("user=" + x.username + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}

func (x *xoauth2Client) Next(challenge []byte) ([]byte, error) {
	if x.challenged {
		return nil, errors.New("XOAUTH2: a second challenge")
	}
	x.challenged = true
	return []byte{}, nil
}
