package postgres

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestConnectionLostIsUnavailable: a database shut down under a running
// worker (57P01) is ErrUnavailable, not an error of mailblast's; a
// constraint violation is not.
func TestConnectionLostIsUnavailable(t *testing.T) {
	down := wrap("apply", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"})
	if !Unavailable(down) {
		t.Errorf("%v: not Unavailable", down)
	}
	if other := wrap("apply", &pgconn.PgError{Code: "23505"}); Unavailable(other) || errors.Is(other, ErrFenced) {
		t.Errorf("%v: Unavailable", other)
	}
}
