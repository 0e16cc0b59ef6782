package imapfetch_test

import (
	"net"
	"testing"
)

// closedPort is a loopback port nobody listens on (just released).
func closedPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}
