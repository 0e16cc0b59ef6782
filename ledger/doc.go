// Package ledger is the durable record of a campaign: one row per recipient,
// its state, every attempt, and the campaign's own settings; and the
// suppression list every campaign in the state directory shares.
//
// The flow of a campaign through the ledger:
//
//  0. Open makes a new ledger only where no file is (0600, in a 0700
//     directory, marked by its application_id). An existing file that is
//     empty, foreign, or damaged by SQLite's quick_check is ErrDamaged:
//     wrong answers from a damaged file would send a campaign again.
//     Check runs the fuller integrity_check; Damaged, Full and
//     StorageFailed classify the errors a failing disk gives later.
//  1. CreateCampaign records the list, the template and the settings.
//  2. Import takes the list's rows in order, committing them a few thousand
//     at a time, so a run can send the first rows while the rest come in.
//     Each commit settles its rows set-based, with an index instead of a map
//     of every address: a row whose Key an earlier row has is skipped as
//     "duplicate of row N", a row whose Key is on the suppression list as
//     "suppressed: REASON". Commit marks the campaign imported. An import
//     that stopped half-way goes on after LastRow; no imported row is
//     touched again. (campaign reads the whole list once before the first
//     row is written, so a bad row stops a run before anything happens.)
//  3. Due hands out waiting rows in row order: fresh rows (never claimed,
//     stored as "new" and read as pending) in row order above the campaign's
//     frontier, and pending and deferred rows whose next attempt has come
//     through a partial index of rows that came back. Fresh rows stay out of
//     that index, so the common path of a row touches no index.
//  4. Apply commits a batch of claims and outcomes in one transaction: the
//     group commit. A claim is a range of rows in the claims table plus the
//     frontier; the rows are not written. Until the pass settles its claims
//     (Batch.Settled), a claimed row without an outcome is in flight. A
//     permanent failure whose enhanced code says the mailbox does not exist
//     (MailboxGone) puts the row's Key on the suppression list in the same
//     transaction.
//  5. RecoverInFlight, at the start of a run, turns the in-flight rows of the
//     claims a crash left back into pending (resend) or into skipped, counts
//     them and forgets the claims. ApplySuppressions skips waiting rows whose
//     address was suppressed since.
//
// The recipient lifecycle is one table, transitions, and every outcome
// written is checked against it in the UPDATE itself; a write that the
// table does not allow is ErrIllegalTransition and its batch is not
// committed, never a silent overwrite:
//
//	               claim (a range; the row is not written)
//	new ──────────────────────────┐
//	 │  pending ◀─ release/resend ┤ in flight: claimed, no outcome yet,
//	 │  deferred ◀─ 4xx ──────────┤ and (after a crash) named by the
//	 ▼                            │ caller's wire journal
//	sent ◀──── 250 ───────────────┤
//	 │ failed ◀── 5xx, max_age ───┤
//	 │ skipped ◀─ suppressed, duplicate, bad row, abandoned, --in-flight skip
//	 │
//	 │ feedback after the 250 (RecordFeedback), never back:
//	 ├──▶ bounced ──┐
//	 ├──▶ complained ◀┤
//	 └──▶ unsubscribed ◀ (from sent, bounced or complained)
//
//	to \ from     new  pending  deferred  (inflight)  sent  failed  skipped  bounced  complained
//	pending        yes  yes      yes       yes         -     -       -        -        -
//	deferred       yes  yes      yes       yes         -     -       -        -        -
//	sent           yes  yes      yes       yes         -     -       -        -        -
//	failed         yes  yes      yes       yes         -     -       -        -        -
//	skipped        yes  yes      yes       yes         -     -       -        -        -
//	bounced        -    -        -         -           yes   -       -        -        -
//	complained     -    -        -         -           yes   -       -        yes      -
//	unsubscribed   -    -        -         -           yes   -       -        yes      yes
//
// ("inflight" is only what ledgers before claim ranges stored.) No attempt
// moves a row out of sent, failed or skipped; only feedback about a
// delivered message moves a sent row on. A row never delivered cannot
// bounce (ErrIllegalTransition); a report of the state a row has already,
// or of one behind it (a bounce after a complaint), is kept in its history
// and moves nothing. Every state from sent on is Final: nothing is resent.
//
//  6. RecordFeedback records one report matched to a delivered row in one
//     transaction: its log row (its Key unique, so a report read twice is a
//     duplicate), an attempt_log entry, the row's new state, and the
//     suppression the caller decided, which bumps the generation a running
//     send polls. SentMessage finds a row by the Message-ID it was sent with
//     (a primary-key lookup per campaign); Secret keeps the VERP key.
//
//  7. Each Apply also adds its outcomes to relay_log, per relay and minute
//     (one statement per relay in the batch), with the throttling replies
//     the outcomes carry: Stats.Relays and Relays read it back.
//
// The ledger does not normalise addresses: callers give each row its Key
// (campaign.ParseAddress) and look suppressions up by the same key.
//
// Store is the small interface the rest of mailblast uses; SQLite (pure Go,
// modernc.org/sqlite) is its one backend. OpenReadOnly serves commands that
// must not write (validate, preview); OpenScratch is a throwaway ledger for
// applying the import's rules to a list without keeping it.
package ledger
