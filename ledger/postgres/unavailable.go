package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrUnavailable is wrapped by the Store's errors when the database went
// away or could not be reached (a restart, a fail-over, a network cut):
// not a fault of the data or of mailblast. What was committed is there,
// and a run can go on once the database is back.
var ErrUnavailable = errors.New("the database is unavailable")

// Unavailable reports whether err is a Store's ErrUnavailable.
func Unavailable(err error) bool { return errors.Is(err, ErrUnavailable) }

// connectionLost tells a lost or refused connection from other errors.
func connectionLost(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// 08: connection exception; 57P01-57P03: shut down by an
		// administrator or a crash, or starting up.
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || pgconn.Timeout(err) && !errors.Is(err, context.Canceled) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}
