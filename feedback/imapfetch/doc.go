// Package imapfetch reads the reports in an IMAP mailbox once, for cron:
// `mailblast feedback fetch`.
//
// The flow of one pass:
//
//  1. Dial connects with TLS from the first byte, with STARTTLS, or (only
//     when asked for in so many words) in clear, and logs in. The password
//     goes only over a connection whose TLS handshake verified, unless the
//     setting is tls: none.
//  2. Run selects the mailbox and compares its UIDVALIDITY and UIDNEXT with
//     what the state file remembers of it: if nothing arrived since the last
//     pass, it reads nothing. A changed UIDVALIDITY starts over from UID 1.
//  3. The new messages are fetched in batches with BODY.PEEK[], which never
//     sets \Seen, and each goes to the Handler as it arrives (Processor:
//     feedback.Parse, then the Applier for each Event, counting as it goes),
//     so one message at most is in memory, MaxMessage at most of it.
//  4. Each message the Handler acted on is moved to the processed mailbox
//     (UID MOVE; without MOVE, UID COPY + \Deleted + UID EXPUNGE of exactly
//     those UIDs, and only with UIDPLUS; created on first use). Everything
//     else stays where it was, flags untouched.
//  5. After each batch the highest UID examined is saved, atomically, so a
//     pass cut short goes on from there; a message acted on but not yet
//     moved is read again and, a duplicate then, moved.
//
// Whatever the server sends, a pass is bounded (bounds.go): MaxBeforeLogin
// bytes until the login is answered, lines of MaxLine after it, no byte
// for IdleTimeout, the pass timeout, and FETCH responses beyond those
// asked for. Each ends the pass with a LimitError, a temporary failure.
package imapfetch
