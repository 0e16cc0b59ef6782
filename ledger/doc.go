// Package ledger is the durable record of a campaign: one row per recipient,
// its state, every attempt, and the campaign's own settings; and the
// suppression list every campaign in the state directory shares.
//
// The flow of a campaign through the ledger:
//
//  1. CreateCampaign records the list, the template and the settings.
//  2. Import streams every list row in, as pending (or skipped with a reason),
//     in one transaction. Its Commit then settles the rows set-based, with
//     an index instead of a map of every address: a row whose Key an earlier
//     row has is skipped as "duplicate of row N", a row whose Key is on the
//     suppression list as "suppressed: REASON". Only then is the campaign
//     marked imported, so a failed import leaves nothing half-written.
//  3. Due hands out pending rows and deferred rows whose next attempt has come,
//     in row order.
//  4. Apply commits a batch of claims (the row is in flight: its message may
//     be on the wire) and outcomes in one transaction: the group commit. A
//     permanent failure whose enhanced code says the mailbox does not exist
//     (BadMailbox) puts the row's Key on the suppression list in the same
//     transaction.
//  5. RecoverInFlight, at the start of a run, turns rows a crash left in flight
//     back into pending (resend) or into skipped, and counts them.
//     ApplySuppressions skips waiting rows whose address was suppressed since.
//
// The ledger does not normalise addresses: callers give each row its Key
// (campaign.ParseAddress) and look suppressions up by the same key.
//
// Store is the small interface the rest of mailblast uses; SQLite (pure Go,
// modernc.org/sqlite) is its one backend. OpenReadOnly serves commands that
// must not write (validate, preview); OpenScratch is a throwaway ledger for
// applying the import's rules to a list without keeping it.
package ledger
