// Package sender moves rendered messages to an SMTP relay.
//
// The flow:
//
//  1. Pool.Run starts one worker per connection slot (Config.Connections).
//  2. A worker dials lazily (TLS verified, STARTTLS or implicit TLS, AUTH when
//     a username is set) and keeps its connection for many messages: after a
//     good DATA the next MAIL goes straight on, with no RSET or EHLO. AUTH
//     with a password is PLAIN or LOGIN; with OAuth 2.0 it is XOAUTH2 or
//     OAUTHBEARER, with the token of the pool's one TokenSource (fetched
//     once, refreshed before expiry and once after a refusal).
//  3. Every reply or transport failure becomes one *Error, classified once
//     (Classify): sent, deferred, failed; relay trouble is marked as such.
//  4. Relay trouble replaces the connection and puts the message back for
//     another try, unless its content already went out (then it is
//     deferred: never two copies in one attempt); repeated connect failures
//     make the pool back off (exponential, with jitter) and finally give up
//     with ErrRelayUnavailable. Every wait and every reply is bounded (see
//     deadlineConn).
//  5. Each outcome goes to the caller's callback; the worker moves on.
//
// Workers stop taking messages when the soft context ends and abort the
// message on the wire when the hard one does; Run returns only after every
// worker has exited.
package sender
