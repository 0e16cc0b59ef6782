package sender

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/emersion/go-smtp"
)

// TestAuthNeedsCompletedTLS: whether a password may go out is decided from
// the connection, not from the TLS setting: a plain stream refuses AUTH in
// every mode unless AllowInsecureAuth says otherwise.
func TestAuthNeedsCompletedTLS(t *testing.T) {
	for _, mode := range []TLSMode{StartTLS, Implicit, NoTLS} {
		client, server := net.Pipe()
		defer client.Close()
		defer server.Close()
		c := smtp.NewClient(client)
		err := auth(context.Background(), c, &Config{Settings: Settings{TLS: mode, Username: "bob"}, Password: "TopSecret"}, client)
		if !errors.Is(err, ErrInsecureAuth) {
			t.Errorf("%v over a plain stream: %v, want ErrInsecureAuth", mode, err)
		}
	}
}

func TestParseTLSMode(t *testing.T) {
	for _, s := range []string{"starttls", "tls", "none"} {
		if m, err := ParseTLSMode(s); err != nil || m.String() != s {
			t.Errorf("%q: %v %v", s, m, err)
		}
	}
	for _, s := range []string{"STARTTLS", "yes", "true", "ssl", ""} {
		if _, err := ParseTLSMode(s); !errors.Is(err, ErrTLSMode) {
			t.Errorf("%q accepted", s)
		}
	}
	if _, err := TLSMode(7).MarshalText(); err == nil {
		t.Error("an unknown mode was written")
	}
}
