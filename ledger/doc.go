// Package ledger is the durable record of a campaign: one row per recipient,
// its state, every attempt, and the campaign's own settings.
//
// The flow of a campaign through the ledger:
//
//  1. CreateCampaign records the list, the template and the settings.
//  2. Import streams every list row in, as pending (or skipped with a reason),
//     in one transaction, and marks the campaign imported only at its end, so
//     a failed import leaves nothing half-written.
//  3. Due hands out pending rows and deferred rows whose next attempt has come,
//     in row order.
//  4. Apply commits a batch of claims (the row is in flight: its message may
//     be on the wire) and outcomes in one transaction: the group commit.
//  5. RecoverInFlight, at the start of a run, turns rows a crash left in flight
//     back into pending (resend) or into skipped, and counts them.
//
// Store is the small interface the rest of mailblast uses; SQLite (pure Go,
// modernc.org/sqlite) is its one backend.
package ledger
