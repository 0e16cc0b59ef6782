// Package campaign runs a campaign: list and template in, one message per
// row out through the sender pool, every outcome into the ledger.
//
// The flow of Run:
//
//  1. Lock the campaign (one run at a time, released by the kernel even
//     after kill -9), open the template and the list.
//  2. New campaign: read the list once (prescan), then import it into the
//     ledger beside the first pass, committing every 1,024 rows (pending
//     rows, or skipped rows with the reason), so sending starts after the
//     first commit and an interrupted import resumes after its last
//     commit. Known campaign: check the list and template are unchanged,
//     go on with an unfinished import, settle rows a crash left in
//     flight, and expire rows deferred past retry.max_age.
//  3. Render the first rows before any connection opens, so a template
//     mistake fails in a second.
//  4. A pass: the producer reads due rows from the ledger in row order,
//     claims them (in flight, committed) and hands them on; renderers build
//     the messages; the pool sends them; the committer writes outcomes in
//     group commits and only then reports them.
//  5. While deferred rows fall due within retry.wait, sleep and pass again;
//     then return a Summary. The caller maps it to an exit code.
package campaign
