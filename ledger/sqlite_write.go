package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

type importer struct {
	s       *SQLite
	ctx     context.Context
	id      int64
	now     int64
	rows    []Recipient // added since the last commit
	skipped []int       // rows committed skipped since the last Flush
}

// importChunk is how many rows one import transaction takes. The
// connection is held only while a chunk is written, a few milliseconds,
// so a run sending beside the import is barely delayed.
const importChunk = 2048

// Import starts bringing a list into the ledger after the rows it already
// has (LastRow): an interrupted import goes on where it stopped, and never
// touches a row already imported, which may have been sent.
func (s *SQLite) Import(ctx context.Context, campaignID int64) (Importer, error) {
	return &importer{s: s, ctx: ctx, id: campaignID, now: Millis(time.Now())}, nil
}

func (im *importer) Add(r Recipient) error {
	im.rows = append(im.rows, r)
	if len(im.rows) >= importChunk {
		return im.commit()
	}
	return nil
}

// Flush commits the rows added since the last commit and returns every row
// committed skipped since the last Flush.
func (im *importer) Flush() ([]int, error) {
	err := im.commit()
	skipped := im.skipped
	im.skipped = nil
	return skipped, err
}

// commit writes the rows added since the last commit in one transaction,
// settled: duplicates of earlier rows and suppressed addresses skipped.
func (im *importer) commit() error {
	if len(im.rows) == 0 {
		return nil
	}
	first, last := im.rows[0].Row, im.rows[len(im.rows)-1].Row
	if err := im.s.prepare(insertRow); err != nil {
		return err
	}
	tx, err := im.s.db.BeginTx(im.ctx, nil)
	if err != nil {
		return fmt.Errorf("ledger: import: %w", err)
	}
	defer tx.Rollback()
	stmt := im.s.stmt(tx, insertRow)
	for _, r := range im.rows {
		state := string(r.State)
		if r.State == "" || r.State == Pending {
			state = fresh
		}
		if _, err := stmt.Exec(im.id, r.Row, r.Email, r.Offset, state, r.Text, im.now, r.Key, r.UTF8); err != nil {
			return fmt.Errorf("ledger: import row %d: %w", r.Row, err)
		}
	}
	err = markDuplicates(tx, im.id, im.now, first, last)
	if err == nil {
		err = suppressRows(tx, im.id, im.now, first, last)
	}
	var skipped []int
	if err == nil {
		skipped, err = skippedRows(tx, im.id, first, last)
	}
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		return fmt.Errorf("ledger: import rows %d-%d: %w", first, last, err)
	}
	im.skipped = append(im.skipped, skipped...)
	im.rows = im.rows[:0]
	return nil
}

func skippedRows(tx *sql.Tx, id int64, first, last int) ([]int, error) {
	rows, err := tx.Query(`SELECT row FROM recipients WHERE campaign_id = ? AND row BETWEEN ? AND ? AND state = 'skipped'`,
		id, first, last)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var r int
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

const insertRow = `INSERT INTO recipients
	(campaign_id, row, email, byte_offset, state, text, updated_at, norm, utf8) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`

// Commit flushes the last rows and marks the campaign imported.
func (im *importer) Commit() error {
	if err := im.commit(); err != nil {
		return err
	}
	if _, err := im.s.db.ExecContext(im.ctx, `UPDATE campaigns SET imported = 1 WHERE id = ?`, im.id); err != nil {
		return fmt.Errorf("ledger: import: %w", err)
	}
	return nil
}

// Rollback drops the rows added since the last Flush.
func (im *importer) Rollback() error {
	im.rows = nil
	return nil
}

// LastRow is the highest row the campaign has, 0 if none.
func (s *SQLite) LastRow(ctx context.Context, campaignID int64) (int, error) {
	var last sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT MAX(row) FROM recipients WHERE campaign_id = ?`, campaignID).Scan(&last); err != nil {
		return 0, fmt.Errorf("ledger: %w", err)
	}
	return int(last.Int64), nil
}

// markDuplicates skips every row from first to last whose Key an earlier
// row of the campaign has, naming the first. One statement over the
// (campaign_id, norm, row) index: memory stays flat however long the list.
// The first row of a key is never changed, so the statement does not
// depend on its own order.
func markDuplicates(tx *sql.Tx, id, now int64, first, last int) error {
	_, err := tx.Exec(`UPDATE recipients AS r SET state = 'skipped', updated_at = ?,
		text = 'duplicate of row ' || (SELECT MIN(d.row) FROM recipients AS d
			WHERE d.campaign_id = r.campaign_id AND d.norm = r.norm AND d.norm <> '')
		WHERE r.campaign_id = ? AND r.row BETWEEN ? AND ? AND r.norm <> '' AND r.state = 'new' AND EXISTS (
			SELECT 1 FROM recipients AS d
			WHERE d.campaign_id = r.campaign_id AND d.norm = r.norm AND d.norm <> '' AND d.row < r.row)`,
		now, id, first, last)
	return err
}

// suppressed skips a row whose Key is on the suppression list, naming the
// reason; updated_at is its one argument. The two statements that use it
// differ in the rows they look at, and so in the plan they need.
const suppressed = `SET state = 'skipped', next_attempt = 0, updated_at = ?,
	text = 'suppressed: ' || (SELECT s.reason FROM suppressions AS s WHERE s.address = recipients.norm)
	WHERE norm <> '' AND norm IN (SELECT address FROM suppressions)`

// suppressRows skips the rows from first to last whose Key is suppressed,
// reading them by row: a commit of the import.
func suppressRows(tx *sql.Tx, id, now int64, first, last int) error {
	_, err := tx.Exec(`UPDATE recipients `+suppressed+` AND campaign_id = ? AND row BETWEEN ? AND ? AND state = 'new'`,
		now, id, first, last)
	return err
}

// applySuppressions skips the campaign's waiting rows whose Key is on the
// suppression list, looking each suppressed address up in the index of
// keys: the cost follows the suppression list, not the campaign.
func applySuppressions(tx *sql.Tx, id, now int64) (int, error) {
	res, err := tx.Exec(`UPDATE recipients INDEXED BY recipients_norm `+suppressed+`
		AND campaign_id = ? AND state IN ('new', 'pending', 'deferred')`, now, id)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// Apply commits claims and outcomes together: the group commit.
func (s *SQLite) Apply(ctx context.Context, campaignID int64, b Batch, at time.Time) error {
	if len(b.Claims) > 0 {
		if err := s.prepare(insertClaim, moveFrontier); err != nil {
			return err
		}
	}
	if len(b.Outcomes) > 0 {
		for _, q := range sentStatements {
			if err := s.prepare(q); err != nil {
				return err
			}
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("ledger: apply: %w", err)
	}
	defer tx.Rollback()
	now := Millis(at)
	if err := s.applyClaims(tx, campaignID, b.Claims); err != nil {
		return err
	}
	if err := s.applyOutcomes(tx, campaignID, b.Outcomes, now); err != nil {
		return err
	}
	if b.Settled {
		if err := settleClaims(tx, campaignID); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("ledger: commit: %w", err)
	}
	return nil
}

// fresh is the stored state of a row no run has claimed yet; it reads as
// Pending. Fresh rows stay out of the index of waiting rows (an index
// entry would cost an insert at import and a delete at the outcome, for
// every row) and are found in row order above the campaign's frontier.
const fresh = "new"

// inClaim is true of a row of a claim made at dueAt that is still in
// flight: waiting as it was when claimed. A row with an outcome is final,
// or deferred until after dueAt.
func inClaim(r, dueAt string) string {
	return "(" + r + ".state = 'new' OR (" + r + ".state IN ('pending', 'deferred') AND " + r + ".next_attempt <= " + dueAt + "))"
}

// applyClaims records each claim as its range and moves the frontier past
// it: every fresh row up to Last is in this claim or an earlier one.
func (s *SQLite) applyClaims(tx *sql.Tx, id int64, claims []Claim) error {
	for _, c := range claims {
		if _, err := s.stmt(tx, insertClaim).Exec(id, c.First, c.Last, Millis(c.DueAt)); err != nil {
			return fmt.Errorf("ledger: claim rows %d-%d: %w", c.First, c.Last, err)
		}
		if _, err := s.stmt(tx, moveFrontier).Exec(c.Last, id); err != nil {
			return fmt.Errorf("ledger: claim rows %d-%d: %w", c.First, c.Last, err)
		}
	}
	return nil
}

const (
	insertClaim  = `INSERT INTO claims (campaign_id, first, last, due_at) VALUES (?, ?, ?, ?)`
	moveFrontier = `UPDATE campaigns SET frontier = MAX(frontier, ?) WHERE id = ?`
)

// settleClaims forgets the claims of a finished pass. A claim with a row
// still in flight (a message abandoned on the wire by a second interrupt,
// so it got no outcome) stays, so the next run's RecoverInFlight treats
// that row as the crash it was. Every row that did get an outcome is out
// of its claim: final, or written back due after the claim's time.
func settleClaims(tx *sql.Tx, id int64) error {
	_, err := tx.Exec(`DELETE FROM claims WHERE campaign_id = ? AND NOT EXISTS (SELECT 1 FROM recipients AS r
		WHERE r.campaign_id = claims.campaign_id AND r.row BETWEEN claims.first AND claims.last
			AND `+inClaim("r", "claims.due_at")+`)`, id)
	if err != nil {
		return fmt.Errorf("ledger: settle claims: %w", err)
	}
	return nil
}

type claimRow struct{ first, last, dueAt int64 }

func readClaims(tx *sql.Tx, id int64) ([]claimRow, error) {
	rows, err := tx.Query(`SELECT first, last, due_at FROM claims WHERE campaign_id = ? ORDER BY first`, id)
	if err != nil {
		return nil, fmt.Errorf("ledger: claims: %w", err)
	}
	defer rows.Close()
	var out []claimRow
	for rows.Next() {
		var c claimRow
		if err := rows.Scan(&c.first, &c.last, &c.dueAt); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *SQLite) applyOutcomes(tx *sql.Tx, id int64, outs []Outcome, now int64) error {
	if err := applyRelays(tx, id, outs, now); err != nil {
		return err
	}
	outs, err := s.applySent(tx, id, outs, now)
	if err != nil || len(outs) == 0 {
		return err
	}
	upd := outcomeStatements{tx: tx}
	// Statements of a transaction: its end closes them anyway.
	defer upd.close()
	ins, err := tx.Prepare(`INSERT OR REPLACE INTO attempt_log (campaign_id, row, n, at, state, code, enhanced, text, relay)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer func() { _ = ins.Close() }()
	var sup *sql.Stmt // prepared on the first bounce
	defer func() {
		if sup != nil {
			_ = sup.Close()
		}
	}()
	for _, o := range outs {
		n := 0
		if o.Attempted {
			n = 1
		}
		if err := upd.exec(o, id, n, now); err != nil {
			return err
		}
		if !o.Attempted {
			continue
		}
		if o.Attempt == 1 && o.State == Sent {
			// The recipients row holds this attempt, the only one, and
			// Attempts reads it from there: most messages need no log row.
			continue
		}
		if _, err := ins.Exec(id, o.Row, o.Attempt, now, string(o.State), o.Code, o.Enhanced, o.Text, o.Relay); err != nil {
			return fmt.Errorf("ledger: attempt row %d: %w", o.Row, err)
		}
		if o.State != Failed || !MailboxGone(o.Enhanced) {
			continue
		}
		if sup == nil {
			if sup, err = tx.Prepare(`INSERT INTO suppressions (address, reason, source, created_at)
				SELECT norm, ?, 'bounce', ? FROM recipients WHERE campaign_id = ? AND row = ? AND norm <> ''
				ON CONFLICT (address) DO NOTHING`); err != nil {
				return err
			}
		}
		res, err := sup.Exec(o.Text, now, id, o.Row)
		if err != nil {
			return fmt.Errorf("ledger: suppress row %d: %w", o.Row, err)
		}
		// Other campaigns running now hear of the address from their next
		// claim on, as they do of a suppress add (SuppressionGen).
		if n, _ := res.RowsAffected(); n > 0 {
			if _, err := tx.Exec(bumpSuppressGen); err != nil {
				return fmt.Errorf("ledger: suppress row %d: %w", o.Row, err)
			}
		}
	}
	return nil
}

// outcomeStatements updates one row per outcome, with the transition
// checked in the statement itself: one prepared statement per target state.
type outcomeStatements struct {
	tx    *sql.Tx
	stmts map[State]*sql.Stmt
}

func (u *outcomeStatements) exec(o Outcome, id int64, attempted int, now int64) error {
	st, err := u.stmt(o.State)
	if err != nil {
		return fmt.Errorf("ledger: outcome row %d: %w", o.Row, err)
	}
	res, err := st.Exec(string(o.State), Millis(o.NextAttempt), id, o.Row, attempted, o.Code, o.Enhanced, o.Text, now,
		attempted, now, o.MessageID, o.MessageID, id, o.Row)
	if err != nil {
		return fmt.Errorf("ledger: outcome row %d: %w", o.Row, err)
	}
	if affected(res) == 0 {
		return fmt.Errorf("ledger: outcome row %d to %s: %w: the row is final already, or there is no such row", o.Row, o.State, ErrIllegalTransition)
	}
	return nil
}

func (u *outcomeStatements) stmt(to State) (*sql.Stmt, error) {
	if st, ok := u.stmts[to]; ok {
		return st, nil
	}
	from, err := allowedFrom(to)
	if err != nil {
		return nil, err
	}
	// A waiting row's next attempt is after every claim that holds it, so
	// that a claim a crash leaves standing does not count it in flight: it
	// was released, or tried, under that claim (ledger.Claim). The ledger
	// keeps this rule itself; callers give the time they mean.
	st, err := u.tx.Prepare(`UPDATE recipients SET state = ?1, next_attempt = CASE WHEN ?1 IN ('pending', 'deferred')
			THEN MAX(?2, COALESCE((SELECT MAX(due_at) + 1 FROM claims WHERE campaign_id = ?3 AND ?4 BETWEEN first AND last), 0))
			ELSE ?2 END,
		attempts = attempts + ?5, code = ?6, enhanced = ?7, text = ?8, updated_at = ?9,
		first_try = CASE WHEN first_try = 0 AND ?10 = 1 THEN ?11 ELSE first_try END,
		message_id = CASE WHEN ?12 <> '' THEN ?13 ELSE message_id END
		WHERE campaign_id = ?14 AND row = ?15 AND state IN ` + from)
	if err != nil {
		return nil, err
	}
	if u.stmts == nil {
		u.stmts = map[State]*sql.Stmt{}
	}
	u.stmts[to] = st
	return st, nil
}

func (u *outcomeStatements) close() {
	for _, st := range u.stmts {
		_ = st.Close()
	}
}

// sentGroups are the sizes of the statements that record first-try
// sends, nearly every outcome of a campaign, several rows at a time:
// SQLite's cost per statement executed is several times its cost per row
// updated. A batch is split greedily into these sizes, so four prepared
// statements serve every batch.
var sentGroups = []int{64, 16, 4, 1}

var sentStatements = map[int]string{}

func init() {
	for _, n := range sentGroups {
		sentStatements[n] = sentStatement(n)
	}
}

// applySent records the batch's first-try sends and returns the other
// outcomes.
func (s *SQLite) applySent(tx *sql.Tx, id int64, outs []Outcome, now int64) ([]Outcome, error) {
	var sent, rest []Outcome
	for _, o := range outs {
		if o.State == Sent && o.Attempt == 1 && o.Attempted {
			sent = append(sent, o)
		} else {
			rest = append(rest, o)
		}
	}
	args := make([]any, 0, 3+5*sentGroups[0])
	for _, n := range sentGroups {
		for len(sent) >= n {
			st := s.stmt(tx, sentStatements[n])
			args = append(args[:0], now, now, id)
			for _, o := range sent[:n] {
				args = append(args, o.Row, o.Code, o.Enhanced, o.Text, o.MessageID)
			}
			res, err := st.Exec(args...)
			if err != nil {
				return nil, fmt.Errorf("ledger: outcome rows %d-%d: %w", sent[0].Row, sent[n-1].Row, err)
			}
			if affected(res) != n {
				return nil, fmt.Errorf("ledger: outcome rows %d-%d: %w: a row among them is final already", sent[0].Row, sent[n-1].Row, ErrIllegalTransition)
			}
			sent = sent[n:]
		}
	}
	return rest, nil
}

func sentStatement(n int) string {
	var b strings.Builder
	b.WriteString(`UPDATE recipients SET state = 'sent', attempts = attempts + 1, next_attempt = 0,
		code = v.column2, enhanced = v.column3, text = v.column4, updated_at = ?1,
		first_try = CASE WHEN first_try = 0 THEN ?2 ELSE first_try END,
		message_id = CASE WHEN v.column5 <> '' THEN v.column5 ELSE message_id END
		FROM (VALUES `)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "(?%d, ?%d, ?%d, ?%d, ?%d)", 4+5*i, 5+5*i, 6+5*i, 7+5*i, 8+5*i)
	}
	from, _ := allowedFrom(Sent) // in the table: cannot fail
	b.WriteString(`) AS v WHERE recipients.campaign_id = ?3 AND recipients.row = v.column1 AND recipients.state IN ` + from)
	return b.String()
}

// RecoverInFlight settles rows that a crash left in flight: the waiting
// rows of the claims still standing. Their message may or may not have
// reached the relay; the policy picks which risk to take.
func (s *SQLite) RecoverInFlight(ctx context.Context, campaignID int64, p InFlightPolicy, at time.Time) (int, error) {
	return s.RecoverOnWire(ctx, campaignID, p, at, nil)
}

// RecoverOnWire is RecoverInFlight knowing which rows were handed to a
// connection (wire; nil: not known, so every claimed row may have been).
// A claimed row the crashed run never handed over was not in flight: its
// claim is dropped and it waits as it did, untouched and uncounted.
func (s *SQLite) RecoverOnWire(ctx context.Context, campaignID int64, p InFlightPolicy, at time.Time, wire map[int]bool) (int, error) {
	state, text := Pending, "in flight at an interrupted run; sent again (a duplicate is possible)"
	if p == Skip {
		state, text = Skipped, "in flight at an interrupted run; not sent again (--in-flight=skip)"
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("ledger: recover in-flight rows: %w", err)
	}
	defer tx.Rollback()
	claims, err := readClaims(tx, campaignID)
	if err != nil {
		return 0, err
	}
	set := `SET state = ?, text = ?, next_attempt = 0, recovered = recovered + 1, updated_at = ?`
	n := 0
	for _, c := range claims {
		m, err := recoverClaim(tx, campaignID, c, wire, set, string(state), text, Millis(at))
		if err != nil {
			return 0, fmt.Errorf("ledger: recover in-flight rows: %w", err)
		}
		n += m
	}
	// Ledgers written before claims were ranges mark the rows themselves.
	res, err := tx.Exec(`UPDATE recipients AS r INDEXED BY recipients_waiting `+set+`
		WHERE r.campaign_id = ? AND `+waitingRows+` AND r.state = 'inflight'`,
		string(state), text, Millis(at), campaignID)
	if err != nil {
		return 0, fmt.Errorf("ledger: recover in-flight rows: %w", err)
	}
	n += affected(res)
	if _, err := tx.Exec(`DELETE FROM claims WHERE campaign_id = ?`, campaignID); err != nil {
		return 0, fmt.Errorf("ledger: recover in-flight rows: %w", err)
	}
	return n, tx.Commit()
}

// recoverClaim settles one claim's rows still waiting: all of them, or
// with wire given, those on it.
func recoverClaim(tx *sql.Tx, id int64, c claimRow, wire map[int]bool, set string, args ...any) (int, error) {
	if wire == nil {
		res, err := tx.Exec(`UPDATE recipients AS r `+set+` WHERE r.campaign_id = ? AND r.row BETWEEN ? AND ? AND `+inClaim("r", "?"),
			append(args, id, c.first, c.last, c.dueAt)...)
		if err != nil {
			return 0, err
		}
		return affected(res), nil
	}
	rows, err := claimedRows(tx, id, c)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, row := range rows {
		if !wire[row] {
			continue
		}
		res, err := tx.Exec(`UPDATE recipients AS r `+set+` WHERE r.campaign_id = ? AND r.row = ?`, append(args, id, row)...)
		if err != nil {
			return 0, err
		}
		n += affected(res)
	}
	// The rest wait again. A fresh one is below the frontier the claim moved,
	// where Due looks only for pending rows: it becomes pending, as a
	// released row does.
	_, err = tx.Exec(`UPDATE recipients SET state = 'pending', next_attempt = 0 WHERE campaign_id = ? AND row BETWEEN ? AND ? AND state = 'new'`,
		id, c.first, c.last)
	return n, err
}

// claimedRows lists the rows claim c holds in flight.
func claimedRows(tx *sql.Tx, id int64, c claimRow) ([]int, error) {
	rs, err := tx.Query(`SELECT r.row FROM recipients AS r WHERE r.campaign_id = ? AND r.row BETWEEN ? AND ? AND `+inClaim("r", "?"),
		id, c.first, c.last, c.dueAt)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []int
	for rs.Next() {
		var row int
		if err := rs.Scan(&row); err != nil {
			return nil, err
		}
		out = append(out, row)
	}
	return out, rs.Err()
}

func affected(res sql.Result) int {
	n, _ := res.RowsAffected()
	return int(n)
}

// Expire fails deferred rows whose first attempt is older than before.
func (s *SQLite) Expire(ctx context.Context, campaignID int64, before, at time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE recipients INDEXED BY recipients_waiting SET state = 'failed',
		text = 'expired: still deferred after retry.max_age; last reply: ' || text, updated_at = ?
		WHERE campaign_id = ? AND `+waitingRows+` AND state = 'deferred' AND first_try > 0 AND first_try < ?`,
		Millis(at), campaignID, Millis(before))
	if err != nil {
		return 0, fmt.Errorf("ledger: expire: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
