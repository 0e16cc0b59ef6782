package sender

import (
	"bufio"
	"io"
	"testing"
)

// TestEnvelopeAllocatesNothing: the pipelined MAIL and RCPT are written
// straight into the buffer, DSN parameters or not: the send path's cost
// per message stays where it was.
func TestEnvelopeAllocatesNothing(t *testing.T) {
	for _, dsn := range []bool{false, true} {
		p := &pipe{bw: bufio.NewWriterSize(io.Discard, 4096), dsn: dsn}
		m := &Envelope{From: "bounces+abcdefghijklmnopqrstuvw@example.com", To: "user+tag=x@example.com", EnvID: "abcdefghijklmnopqrstuvw"}
		if n := testing.AllocsPerRun(1000, func() { p.envelope(m, false) }); n != 0 {
			t.Errorf("DSN %v: %v allocations per envelope", dsn, n)
		}
	}
}
