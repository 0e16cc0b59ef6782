// Package sendertest runs a real SMTP server (emersion/go-smtp) on
// 127.0.0.1 for the tests of this repository: unit tests of the sender, and
// end-to-end tests that run the mailblast binary against it. It records what
// it accepts and misbehaves on request.
//
// How it works:
//
//  1. NewServer listens on 127.0.0.1:0 and registers Close with t.Cleanup.
//     With Options.TLS or Options.ImplicitTLS it first makes a self-signed
//     certificate in memory (CertPEM, CertPool, ClientTLSConfig, CertFile).
//  2. Each accepted connection gets a sequence number (Message.Conn) and its
//     own go-smtp server. While SetDown(true) it is answered
//     "421 4.3.2 Service not available" and closed instead; once
//     Faults.StallAfterN is reached it gets nothing at all.
//  3. Every command verb the client sends is appended to the transcript
//     (Commands, CommandsOnConn), read from the plaintext side of TLS.
//  4. MAIL needs AUTH first when Options.Username (a password) or
//     Options.Bearer (OAuth 2.0 tokens only: XOAUTH2, OAUTHBEARER) is set. RCPT goes through
//     Faults.Rcpt; the body through Faults.DropInDataEvery, then
//     Faults.Data, then Faults.SilentAfterDot (no reply at all). A message
//     that passes is recorded (Messages, Count, ByRecipient) and answered
//     250.
//  5. Close (or the end of the test) closes every connection, releases
//     stalled ones and waits for all goroutines.
//
// Faults return *smtp.SMTPError values, so the exact code and enhanced code
// reach the client. The server's own replies are ErrServiceNotAvailable,
// ErrTooManyMessages and ErrAuthRequired.
//
// A unit test:
//
//	func TestGreylisted(t *testing.T) {
//		srv := sendertest.NewServer(t, sendertest.Options{
//			TLS: true,
//			Faults: sendertest.Faults{
//				Rcpt: func(addr string, attempt int) *smtp.SMTPError {
//					if attempt == 1 {
//						return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "Greylisted"}
//					}
//					return nil
//				},
//			},
//		})
//		c, err := smtp.DialStartTLS(srv.Addr(), srv.ClientTLSConfig())
//		// ... send with the code under test, then:
//		if got := srv.ByRecipient()["bob@example.com"]; len(got) != 1 {
//			t.Errorf("bob got %d copies, want 1", len(got))
//		}
//		if slices.Contains(srv.Commands(), "RSET") { ... }
//	}
//
// An end-to-end test points the binary at Host and Port, and with TLS sets
// SSL_CERT_FILE=srv.CertFile() in the subprocess's environment so Go's TLS
// stack trusts the server.
package sendertest
