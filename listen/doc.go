// Package listen is the HTTP server of `mailblast listen`: RFC 8058
// one-click unsubscribes and the relays' signed event webhooks, feeding
// one feedback Applier.
//
// The flow of one request:
//  1. Serve's http.Server bounds the header, body and idle times and the
//     header size; every handler reads its body through
//     http.MaxBytesReader (64 KiB for forms, 1 MiB for webhooks) and
//     answers 413 past it. logRequests writes one JSON line per request,
//     with the token cut out of /u/ paths.
//  2. /u/TOKEN: the token is verified with the unsubscribe secret
//     (feedback.VerifyToken) before anything else; a forged one is 404.
//     GET shows a confirmation form and changes nothing (link scanners
//     follow GETs); POST with List-Unsubscribe=One-Click applies an
//     Unsubscribe Event naming the verified row.
//  3. /webhooks/ses, /webhooks/sendgrid, /webhooks/mailgun: each checks
//     its provider's signature (SNS RSA signature with a certificate from
//     an allowed host; SendGrid ECDSA P-256; Mailgun HMAC-SHA256 with a
//     fresh timestamp and an unused token) and answers 404 when that
//     provider is not configured, 401/403 when the signature fails. The
//     payload then goes through feedback.ParseProvider to the Applier.
//  4. Applying retries a failed write a few times (a busy ledger beside a
//     cron send) and answers 503 with Retry-After if it still fails: no
//     200 is given for an event that is not stored, so the provider (or
//     the receiver's one-click POST) tries again.
package listen
