// Package postgres is the ledger (ledger.Store) in a PostgreSQL database
// that several mailblast processes, on several machines, share: one
// campaign, its rows divided between its workers. The rules are SQLite's
// (the conformance suite ledger/storetest runs unchanged against both);
// what is new is who holds a row.
//
//  1. Open parses the URL (the password from the URL, PGPASSWORD, .pgpass,
//     or Options.PasswordFile; never in an error), applies the embedded
//     migrations it lacks (migrations/*.sql, recorded in schema_migrations)
//     under pg_advisory_lock, and takes a lease: a row in leases whose
//     token, unique and increasing, is this worker's fencing token. A
//     goroutine renews it every Lease/3 until Close, which releases it.
//  2. Due reserves the rows it returns (owner = token, held) in one
//     statement: SELECT … FOR UPDATE SKIP LOCKED in row order, passing
//     over rows another worker's Due is reserving and rows another live
//     worker holds. A reservation never claimed is no one's once its
//     worker's lease lapses (or the pass settles): simply due again.
//  3. Apply is one round trip per group commit (a pgx.Batch, one implicit
//     transaction, the rows as arrays): claims mark this worker's rows in
//     flight (claimed); each outcome is written only to a row this worker
//     holds, or no worker ever held, in a state the lifecycle allows
//     (ledger.AllowedFrom). A row written by no statement fails the batch
//     in the database (mailblast_check_outcomes): ledger.ErrIllegalTransition,
//     or ErrFenced when another worker holds the row now.
//  4. A worker that no longer renews (killed, cut off) loses its lease
//     after Lease. Its claimed rows are in flight: RecoverInFlight, at the
//     start of another worker's run, settles them by --in-flight
//     (resend|skip) and counts them as recovered; so does Due afterwards,
//     for leases that lapse while that worker runs. The taker becomes the
//     rows' owner, so the lapsed worker's late writes are fenced off; the
//     lapsed worker itself stops as soon as its own clock says the lease
//     may have lapsed, or its renewal finds it has (ErrFenced, for good).
//  5. Heartbeat and Workers (ledger.Fleet) keep the fleet's table: host,
//     pid, claimed rows, rate and pace per worker, and whether its lease is
//     current.
//
// Times are Unix milliseconds from the callers' clocks, as in SQLite;
// leases alone use the database's clock, so workers' clocks never decide
// who holds a row.
package postgres
