package ledger

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// feedbackSchema is the log of feedback applied: one row per event, its
// Key unique so a report read twice changes nothing the second time. The
// index on (address, at) serves the soft-bounce count.
const feedbackSchema = `
CREATE TABLE IF NOT EXISTS feedback (
	key TEXT NOT NULL UNIQUE,
	at INTEGER NOT NULL,
	kind TEXT NOT NULL,
	source TEXT NOT NULL,
	campaign_id INTEGER NOT NULL,
	row INTEGER NOT NULL,
	address TEXT NOT NULL,
	status TEXT NOT NULL,
	diagnostic TEXT NOT NULL,
	soft INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS feedback_address ON feedback (address, at);
`

// Feedback is one matched report about one delivered row, as
// RecordFeedback writes it. The caller (feedback.Applier) has decided
// what it means; the ledger writes it all or nothing.
type Feedback struct {
	Key        string // unique per event: a second record is a Duplicate
	At         time.Time
	Kind       string // feedback.Kind
	Source     string // "dsn", "arf", "one-click", a provider
	CampaignID int64
	Row        int
	// State is where the row moves ("" leaves it as it is): a move the
	// table does not allow from a delivered row (a bounce after a
	// complaint) keeps the row where it is; a row never delivered is
	// ErrIllegalTransition and nothing is written.
	State      State
	Code       int
	Status     string // enhanced status code
	Diagnostic string
	// Suppress puts the row's address on the suppression list under this
	// source ("" for none), with Reason.
	Suppress string
	Reason   string
	// Soft counts the event toward the address's soft-bounce limit: when
	// SoftLimit > 0 and the address has that many soft events at or after
	// SoftSince, this one included, it is suppressed as a bounce.
	Soft      bool
	SoftLimit int
	SoftSince time.Time
}

// The statements of RecordFeedback, prepared once (feedbackStatements):
// parsing SQL was a fifth of an event's cost.
const (
	qFeedbackRow = `SELECT ` + recipientCols + ` FROM recipients WHERE campaign_id = ? AND row = ?`
	qFeedbackLog = `INSERT INTO feedback (key, at, kind, source, campaign_id, row, address, status, diagnostic, soft)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`
	qFeedbackLastAttempt = `SELECT COALESCE(MAX(n), 0) FROM attempt_log WHERE campaign_id = ? AND row = ?`
	qFeedbackAttempt     = `INSERT INTO attempt_log (campaign_id, row, n, at, state, code, enhanced, text) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	qFeedbackSuppress    = `INSERT INTO suppressions (address, reason, source, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (address) DO NOTHING`
	qSoftBounces = `SELECT COUNT(DISTINCT campaign_id || ':' || row) FROM feedback WHERE address = ? AND at >= ? AND soft`
	qSentMessage = `SELECT c.id FROM campaigns AS c CROSS JOIN recipients AS r
		ON r.campaign_id = c.id AND r.row = ? WHERE r.message_id = ? LIMIT 1`
)

// qFeedbackMove moves a row to to, the transition checked in the statement.
func qFeedbackMove(to State) (string, error) {
	from, err := allowedFrom(to)
	return `UPDATE recipients SET state = ?, code = ?, enhanced = ?, text = ?, updated_at = ?
		WHERE campaign_id = ? AND row = ? AND state IN ` + from, err
}

var feedbackStatements = func() []string {
	qs := []string{qFeedbackRow, qFeedbackLog, qFeedbackLastAttempt, qFeedbackAttempt, qFeedbackSuppress, qSoftBounces, bumpSuppressGen}
	for _, to := range []State{Bounced, Complained, Unsubscribed} {
		q, _ := qFeedbackMove(to) // in the table: cannot fail
		qs = append(qs, q)
	}
	return qs
}()

// fbTx runs the prepared statements in a transaction (and any other
// statement unprepared).
type fbTx struct {
	s  *SQLite
	tx *sql.Tx
}

func (t fbTx) stmt(q string) *sql.Stmt {
	t.s.mu.Lock()
	st, ok := t.s.stmts[stmtKey{t.s.db, q}]
	t.s.mu.Unlock()
	if !ok {
		return nil
	}
	return t.tx.Stmt(st)
}

func (t fbTx) Exec(q string, args ...any) (sql.Result, error) {
	if st := t.stmt(q); st != nil {
		return st.Exec(args...)
	}
	return t.tx.Exec(q, args...)
}

func (t fbTx) QueryRow(q string, args ...any) *sql.Row {
	if st := t.stmt(q); st != nil {
		return st.QueryRow(args...)
	}
	return t.tx.QueryRow(q, args...)
}

// FeedbackResult is what RecordFeedback changed.
type FeedbackResult struct {
	Duplicate  bool // the Key was recorded before: nothing changed
	Moved      bool // the row's state changed
	Suppressed bool // the row's address was added to the suppression list
	// Refused, in RecordFeedbacks' results only, is why nothing of this
	// one was recorded: ErrIllegalTransition (never delivered) or ErrNoRow.
	Refused error
}

// RecordFeedback records f in one transaction: the log row, the attempt
// history, the row's new state and the suppression. A suppression bumps
// the generation a running send polls, so it skips the address from its
// next claim on.
func (s *SQLite) RecordFeedback(ctx context.Context, f Feedback) (FeedbackResult, error) {
	if f.At.IsZero() {
		f.At = time.Now()
	}
	if err := s.prepare(feedbackStatements...); err != nil {
		return FeedbackResult{}, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return FeedbackResult{}, fmt.Errorf("ledger: feedback: %w", err)
	}
	defer tx.Rollback()
	res, err := recordFeedback(fbTx{s, tx}, f)
	if err != nil || res.Duplicate {
		return res, err
	}
	if err := tx.Commit(); err != nil {
		return FeedbackResult{}, fmt.Errorf("ledger: feedback: %w", err)
	}
	return res, nil
}

// RecordFeedbacks records many in one transaction, each as RecordFeedback
// would (a later one sees what an earlier one wrote): one commit, one
// fsync, for a mailbox's worth. One about a row never delivered, or none,
// is refused alone (its result's Refused); any other error records none.
func (s *SQLite) RecordFeedbacks(ctx context.Context, list []Feedback) ([]FeedbackResult, error) {
	if err := s.prepare(feedbackStatements...); err != nil {
		return nil, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("ledger: feedback: %w", err)
	}
	defer tx.Rollback()
	out := make([]FeedbackResult, len(list))
	for i, f := range list {
		if f.At.IsZero() {
			f.At = time.Now()
		}
		res, err := recordFeedback(fbTx{s, tx}, f)
		if errors.Is(err, ErrIllegalTransition) || errors.Is(err, ErrNoRow) {
			res.Refused, err = err, nil // refused before anything of it was written
		}
		if err != nil {
			return nil, err
		}
		out[i] = res
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("ledger: feedback: %w", err)
	}
	return out, nil
}

func recordFeedback(tx fbTx, f Feedback) (FeedbackResult, error) {
	var res FeedbackResult
	cur, err := rowForFeedback(tx, f)
	if err != nil {
		return res, err
	}
	if res.Duplicate, err = logFeedback(tx, f, cur.Key); err != nil || res.Duplicate {
		return res, err
	}
	to := cur.State
	if f.State != "" && f.State != cur.State && allows(cur.State, f.State) {
		to = f.State
	}
	if err := logFeedbackAttempt(tx, f, cur, to); err != nil {
		return res, err
	}
	if to != cur.State {
		if err := moveRow(tx, f, to); err != nil {
			return res, err
		}
		res.Moved = true
	}
	res.Suppressed, err = suppressForFeedback(tx, f, cur.Key)
	return res, err
}

// rowForFeedback reads the row f is about; one never delivered is
// ErrIllegalTransition: no report can be about a message never sent.
func rowForFeedback(tx fbTx, f Feedback) (Recipient, error) {
	r, err := scanRecipient(tx.QueryRow(qFeedbackRow, f.CampaignID, f.Row))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("ledger: feedback: %w: row %d", ErrNoRow, f.Row)
	}
	if err != nil {
		return r, fmt.Errorf("ledger: feedback row %d: %w", f.Row, err)
	}
	if !r.State.Delivered() {
		return r, fmt.Errorf("ledger: feedback row %d (%s): %w: the row was never delivered", f.Row, r.State, ErrIllegalTransition)
	}
	if f.State != "" && (f.State == Sent || !f.State.Delivered()) {
		return r, fmt.Errorf("ledger: feedback row %d: %w: feedback never moves a row to %q", f.Row, ErrIllegalTransition, f.State)
	}
	return r, nil
}

// logFeedback inserts f's log row; false when its Key is there already.
func logFeedback(tx fbTx, f Feedback, address string) (dup bool, err error) {
	res, err := tx.Exec(qFeedbackLog,
		f.Key, Millis(f.At), f.Kind, f.Source, f.CampaignID, f.Row, address, f.Status, f.Diagnostic, f.Soft)
	if err != nil {
		return false, fmt.Errorf("ledger: feedback row %d: %w", f.Row, err)
	}
	return affected(res) == 0, nil
}

// logFeedbackAttempt adds the report to the row's history. A row sent at
// its first attempt has no log row (its recipients row holds the attempt,
// which the report is about to overwrite): that attempt is logged first.
func logFeedbackAttempt(tx fbTx, f Feedback, cur Recipient, to State) error {
	var n int
	if err := tx.QueryRow(qFeedbackLastAttempt, f.CampaignID, f.Row).Scan(&n); err != nil {
		return fmt.Errorf("ledger: feedback row %d: %w", f.Row, err)
	}
	ins := qFeedbackAttempt
	if n == 0 && cur.Attempts > 0 {
		n = cur.Attempts
		if _, err := tx.Exec(ins, f.CampaignID, f.Row, n, Millis(cur.UpdatedAt), string(Sent), cur.Code, cur.Enhanced, cur.Text); err != nil {
			return fmt.Errorf("ledger: feedback row %d: %w", f.Row, err)
		}
	}
	text := f.Kind + " (" + f.Source + ")"
	if f.Diagnostic != "" {
		text += ": " + f.Diagnostic
	}
	if _, err := tx.Exec(ins, f.CampaignID, f.Row, n+1, Millis(f.At), string(to), f.Code, f.Status, text); err != nil {
		return fmt.Errorf("ledger: feedback row %d: %w", f.Row, err)
	}
	return nil
}

// moveRow sets the row's new state, the transition checked again in the
// statement itself.
func moveRow(tx fbTx, f Feedback, to State) error {
	q, err := qFeedbackMove(to)
	if err != nil {
		return err
	}
	res, err := tx.Exec(q,
		string(to), f.Code, f.Status, f.Diagnostic, Millis(f.At), f.CampaignID, f.Row)
	if err != nil {
		return fmt.Errorf("ledger: feedback row %d: %w", f.Row, err)
	}
	if affected(res) != 1 { // read in this very transaction: cannot happen
		return fmt.Errorf("ledger: feedback row %d to %s: the row changed under its transaction", f.Row, to)
	}
	return nil
}

// suppressForFeedback adds the row's address when f says so, or when its
// soft bounces reached the limit.
func suppressForFeedback(tx fbTx, f Feedback, address string) (bool, error) {
	source := f.Suppress
	if source == "" && f.Soft && f.SoftLimit > 0 {
		n, err := softBounces(tx, address, f.SoftSince)
		if err != nil {
			return false, err
		}
		if n >= f.SoftLimit {
			source = SourceBounce
		}
	}
	if source == "" || address == "" {
		return false, nil
	}
	res, err := tx.Exec(qFeedbackSuppress, address, f.Reason, source, Millis(time.Now()))
	if err != nil {
		return false, fmt.Errorf("ledger: suppress row %d: %w", f.Row, err)
	}
	if affected(res) == 0 {
		return false, nil
	}
	if _, err := tx.Exec(bumpSuppressGen); err != nil {
		return false, fmt.Errorf("ledger: suppress row %d: %w", f.Row, err)
	}
	return true, nil
}

func softBounces(q interface {
	QueryRow(string, ...any) *sql.Row
}, address string, since time.Time) (int, error) {
	var n int
	err := q.QueryRow(qSoftBounces, address, Millis(since)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("ledger: soft bounces: %w", err)
	}
	return n, nil
}

// SoftBounces counts the soft bounces recorded for address (a Key) at or
// after since.
func (s *SQLite) SoftBounces(ctx context.Context, address string, since time.Time) (int, error) {
	return softBounces(s.db, address, since)
}

// SentMessage finds the row that was sent messageID as row of some
// campaign: a lookup by primary key per campaign, and an exact comparison
// with the Message-ID stored when it was sent. No index on message_id: the
// send path pays nothing for it.
func (s *SQLite) SentMessage(ctx context.Context, row int, messageID string) (int64, Recipient, bool, error) {
	var id int64
	var r Recipient
	// The reading connection: matching never waits behind a write.
	st, err := s.cached(s.rdb, qSentMessage)
	if err != nil {
		return 0, r, false, err
	}
	err = st.QueryRowContext(ctx, row, messageID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) || messageID == "" {
		return 0, r, false, nil
	}
	if err != nil {
		return 0, r, false, fmt.Errorf("ledger: message %s: %w", messageID, err)
	}
	if st, err = s.cached(s.rdb, qFeedbackRow); err != nil {
		return 0, r, false, err
	}
	if r, err = scanRecipient(st.QueryRowContext(ctx, id, row)); err != nil {
		return 0, r, false, fmt.Errorf("ledger: message %s: %w", messageID, err)
	}
	return id, r, true, nil
}

// Secret is the ledger's secret of name: 32 random bytes made on first
// use and kept in the meta table, so every process (and, later, every
// machine) sharing the ledger shares it. Two processes making it at once
// both get the one that was stored first.
func (s *SQLite) Secret(ctx context.Context, name string) ([]byte, error) {
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("ledger: secret: %w", err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("ledger: secret: %w", err)
	}
	defer tx.Rollback()
	// A BLOB keeps its bytes in the INTEGER column: SQLite converts only
	// text that looks like a number.
	if _, err := tx.Exec(`INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`, "secret:"+name, fresh); err != nil {
		return nil, fmt.Errorf("ledger: secret: %w", err)
	}
	var key []byte
	if err := tx.QueryRow(`SELECT value FROM meta WHERE key = ?`, "secret:"+name).Scan(&key); err != nil {
		return nil, fmt.Errorf("ledger: secret: %w", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("%w: the ledger's %s secret is %d bytes, not 32", ErrDamaged, name, len(key))
	}
	return key, tx.Commit()
}
