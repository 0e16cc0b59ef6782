package sendertest

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Hostile is a relay written to misbehave, on a raw socket where go-smtp's
// server would not let it: serve runs for each accepted connection and
// answers as the test needs (dripping, endless, silent after the dot). It
// records the command lines serve reads through Line.
type Hostile struct {
	ln    net.Listener
	mu    sync.Mutex
	lines []string
	conns atomic.Int64
	wrote atomic.Int64 // bytes written through Write
}

// NewHostile listens on 127.0.0.1:0 until the test ends; the cleanup
// closes every connection and waits for serve to return.
func NewHostile(t testing.TB, serve func(h *Hostile, c net.Conn, r *bufio.Reader)) *Hostile {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &Hostile{ln: ln}
	var wg sync.WaitGroup
	var live sync.Map
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.conns.Add(1)
			live.Store(c, true)
			wg.Go(func() {
				defer c.Close()
				serve(h, c, bufio.NewReader(c))
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		live.Range(func(c, _ any) bool { c.(net.Conn).Close(); return true })
		wg.Wait()
	})
	return h
}

// Port is the port the relay listens on.
func (h *Hostile) Port() int { return h.ln.Addr().(*net.TCPAddr).Port }

// Conns is how many connections the relay accepted.
func (h *Hostile) Conns() int64 { return h.conns.Load() }

// Wrote is how many bytes serve wrote through Write.
func (h *Hostile) Wrote() int64 { return h.wrote.Load() }

// Line reads one command line and records it.
func (h *Hostile) Line(r *bufio.Reader) (string, error) {
	l, err := r.ReadString('\n')
	if err == nil {
		h.mu.Lock()
		h.lines = append(h.lines, strings.TrimSpace(l))
		h.mu.Unlock()
	}
	return l, err
}

// Saw reports whether a recorded line starts with prefix, in any case.
func (h *Hostile) Saw(prefix string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, l := range h.lines {
		if strings.HasPrefix(strings.ToUpper(l), strings.ToUpper(prefix)) {
			return true
		}
	}
	return false
}

// Write writes s to c and counts it.
func (h *Hostile) Write(c net.Conn, s string) error {
	n, err := io.WriteString(c, s)
	h.wrote.Add(int64(n))
	return err
}

// Greet sends a good greeting, answers EHLO with the given extensions and
// answers the NOOP mailblast sends after it.
func (h *Hostile) Greet(c net.Conn, r *bufio.Reader, ext ...string) error {
	if err := h.Write(c, "220 hostile.example ESMTP\r\n"); err != nil {
		return err
	}
	if _, err := h.Line(r); err != nil {
		return err
	}
	reply := "250-hostile.example\r\n"
	for _, e := range ext {
		reply += "250-" + e + "\r\n"
	}
	if err := h.Write(c, reply+"250 8BITMIME\r\n"); err != nil {
		return err
	}
	if _, err := h.Line(r); err != nil {
		return err
	}
	return h.Write(c, "250 2.0.0 ok\r\n")
}
