package sendertest_test

import (
	"errors"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mailblast/mailblast/sender/sendertest"
)

// xoauth2 is a minimal XOAUTH2 client for these tests.
type xoauth2 struct{ user, token string }

func (x xoauth2) Start() (string, []byte, error) {
	return "XOAUTH2", []byte("user=" + x.user + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}
func (x xoauth2) Next([]byte) ([]byte, error) { return []byte{}, nil }

// TestBearer: with Options.Bearer the server offers only XOAUTH2 and
// OAUTHBEARER, asks the callback about each token, and wants AUTH before
// MAIL.
func TestBearer(t *testing.T) {
	const user, good = "u@example.com", "good-token"
	s := sendertest.NewServer(t, sendertest.Options{TLS: true,
		Bearer: func(u, tok string) bool { return u == user && tok == good }})
	dialTLS := func(t *testing.T) *smtp.Client {
		c, err := smtp.DialStartTLS(s.Addr(), s.ClientTLSConfig())
		if err != nil {
			t.Fatal(err)
		}
		return prepare(t, c)
	}
	t.Run("XOAUTH2", func(t *testing.T) {
		c := dialTLS(t)
		if c.SupportsAuth(sasl.Plain) || !c.SupportsAuth("XOAUTH2") || !c.SupportsAuth(sasl.OAuthBearer) {
			t.Error("want XOAUTH2 and OAUTHBEARER offered, and no PLAIN")
		}
		wantReply(t, c.Mail("sender@example.com", nil), 530, smtp.EnhancedCode{5, 7, 0})
		wantReply(t, c.Auth(sasl.NewPlainClient("", user, good)), 504, smtp.EnhancedCode{5, 7, 4})
		wantReply(t, c.Auth(xoauth2{user, "bad"}), 535, smtp.EnhancedCode{5, 7, 8})
		if err := c.Auth(xoauth2{user, good}); err != nil {
			t.Fatal(err)
		}
		mustSend(t, c, "a@example.com")
	})
	t.Run("OAUTHBEARER", func(t *testing.T) {
		c := dialTLS(t)
		var be *sasl.OAuthBearerError
		if err := c.Auth(sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: user, Token: "bad"})); !errors.As(err, &be) {
			t.Fatalf("a bad token: %v, want the error challenge", err)
		}
		if err := c.Auth(sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: user, Token: good})); err != nil {
			t.Fatal(err)
		}
		mustSend(t, c, "b@example.com")
	})
	t.Run("one mechanism", func(t *testing.T) {
		s := sendertest.NewServer(t, sendertest.Options{TLS: true, BearerMechanisms: []string{"XOAUTH2"},
			Bearer: func(string, string) bool { return true }})
		c, err := smtp.DialStartTLS(s.Addr(), s.ClientTLSConfig())
		if err != nil {
			t.Fatal(err)
		}
		prepare(t, c)
		if c.SupportsAuth(sasl.OAuthBearer) || !c.SupportsAuth("XOAUTH2") {
			t.Error("BearerMechanisms not followed")
		}
	})
	if s.Count() != 2 {
		t.Errorf("Count %d, want 2", s.Count())
	}
}
