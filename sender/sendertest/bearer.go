package sendertest

import (
	"bytes"
	"slices"
	"strings"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// xoauth2 is the mechanism's name; go-sasl no longer has it.
const xoauth2 = "XOAUTH2"

func (s *Server) bearerMechanisms() []string {
	if len(s.opts.BearerMechanisms) > 0 {
		return s.opts.BearerMechanisms
	}
	return []string{xoauth2, sasl.OAuthBearer}
}

// bearerAuth serves the bearer mechanisms the server offers.
func (se *session) bearerAuth(mech string) (sasl.Server, error) {
	if !slices.Contains(se.srv.bearerMechanisms(), mech) {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	if mech == xoauth2 {
		return &xoauth2Server{check: se.bearer}, nil
	}
	return sasl.NewOAuthBearerServer(func(o sasl.OAuthBearerOptions) *sasl.OAuthBearerError {
		if !se.bearer(o.Username, o.Token) {
			return &sasl.OAuthBearerError{Status: "invalid_token", Schemes: "bearer"}
		}
		return nil
	}), nil
}

func (se *session) bearer(username, token string) bool {
	if username == "" || token == "" || !se.srv.opts.Bearer(username, token) {
		return false
	}
	se.authed = true
	return true
}

// xoauth2Server is the server side of XOAUTH2 as Google documents it: the
// initial response "user=U^Aauth=Bearer T^A^A"; a refused token gets a
// 334 with a JSON status, the client's empty answer then 535.
type xoauth2Server struct {
	check   func(username, token string) bool
	started bool
	failed  bool
}

func (x *xoauth2Server) Next(response []byte) ([]byte, bool, error) {
	switch {
	case x.failed:
		return nil, true, smtp.ErrAuthFailed
	case response == nil && !x.started:
		x.started = true
		return []byte{}, false, nil // ask for the initial response
	}
	x.started = true
	user, token, ok := parseXOAuth2(response)
	if ok && x.check(user, token) {
		return nil, true, nil
	}
	x.failed = true
	return []byte(`{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}`), false, nil
}

func parseXOAuth2(b []byte) (user, token string, ok bool) {
	for _, f := range bytes.Split(b, []byte{1}) {
		k, v, _ := strings.Cut(string(f), "=")
		switch k {
		case "user":
			user = v
		case "auth":
			if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
				token = v[7:]
			}
		}
	}
	return user, token, user != "" && token != ""
}
