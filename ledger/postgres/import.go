package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mailblast/mailblast/ledger"
)

// importChunk is how many rows one import transaction takes: one COPY and
// one round trip of set-based settling per chunk.
const importChunk = 4096

type importer struct {
	s       *Store
	conn    *pgxpool.Conn // holds the campaign's import lock until Commit or Rollback
	ctx     context.Context
	id      int64
	now     int64
	rows    [][]any // COPY rows added since the last commit
	first   int
	last    int
	skipped []int
}

// Import starts bringing a list in after the rows the campaign has
// (LastRow), as SQLite's does; rows go in by COPY. One worker imports a
// campaign at a time: Import takes the campaign's advisory lock on a
// connection it keeps until Commit or Rollback (a dead importer's lock
// goes with its connection). When another session holds it, Import
// fails at once with an error whose ImportBusy method says so: that
// worker waits for the import, or takes it up when the lock frees.
func (s *Store) Import(ctx context.Context, campaignID int64) (ledger.Importer, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, wrap("import", err)
	}
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, importLock, int32(campaignID)).Scan(&got); err != nil {
		conn.Release()
		return nil, wrap("import", err)
	}
	if !got {
		conn.Release()
		return nil, ImportBusyError{CampaignID: campaignID}
	}
	im := &importer{s: s, conn: conn, ctx: ctx, id: campaignID, now: ledger.Millis(time.Now())}
	s.mu.Lock()
	s.importers[im] = true
	s.mu.Unlock()
	return im, nil
}

// importLock is the first key of the campaigns' import locks ("mb"); the
// campaign's ID is the second.
const importLock = 0x6d62

// ImportBusyError is Import's error while another worker imports the
// campaign.
type ImportBusyError struct{ CampaignID int64 }

func (e ImportBusyError) Error() string {
	return fmt.Sprintf("ledger: campaign %d: another worker is importing its list", e.CampaignID)
}

// ImportBusy is true: callers test for it with errors.As on the method.
func (ImportBusyError) ImportBusy() bool { return true }

// release gives the import lock and its connection back.
func (im *importer) release() {
	im.s.mu.Lock()
	delete(im.s.importers, im)
	im.s.mu.Unlock()
	if im.conn == nil {
		return
	}
	if _, err := im.conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1, $2)`, importLock, int32(im.id)); err != nil {
		// Unsure the lock is gone: close the connection, which frees it.
		_ = im.conn.Conn().Close(context.Background())
	}
	im.conn.Release()
	im.conn = nil
}

var importCols = []string{"campaign_id", "row", "email", "byte_offset", "state", "text", "updated_at", "norm", "utf8"}

func (im *importer) Add(r ledger.Recipient) error {
	state := string(r.State)
	if r.State == "" || r.State == ledger.Pending {
		state = "new"
	}
	if len(im.rows) == 0 {
		im.first = r.Row
	}
	im.last = r.Row
	im.rows = append(im.rows, []any{im.id, int32(r.Row), r.Email, r.Offset, state, r.Text, im.now, r.Key, r.UTF8})
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

// commit copies the rows in and settles them in one transaction:
// duplicates of earlier rows, then suppressed addresses, skipped.
func (im *importer) commit() error {
	if len(im.rows) == 0 {
		return nil
	}
	var skipped []int
	if im.conn == nil {
		return fmt.Errorf("ledger: import of campaign %d: used after Commit or Rollback", im.id)
	}
	err := pgx.BeginFunc(im.ctx, im.conn, func(tx pgx.Tx) error {
		if _, err := tx.CopyFrom(im.ctx, pgx.Identifier{"recipients"}, importCols, pgx.CopyFromRows(im.rows)); err != nil {
			return err
		}
		b := &pgx.Batch{}
		b.Queue(markDuplicates, im.now, im.id, im.first, im.last)
		b.Queue(suppressRows, im.now, im.id, im.first, im.last)
		b.Queue(`SELECT row FROM recipients WHERE campaign_id = $1 AND row BETWEEN $2 AND $3 AND state = 'skipped' ORDER BY row`,
			im.id, im.first, im.last).Query(func(rows pgx.Rows) error {
			var err error
			skipped, err = pgx.CollectRows(rows, pgx.RowTo[int])
			return err
		})
		return tx.SendBatch(im.ctx, b).Close()
	})
	if err != nil {
		return wrap(fmt.Sprintf("import rows %d-%d", im.first, im.last), err)
	}
	im.skipped = append(im.skipped, skipped...)
	im.rows = im.rows[:0]
	return nil
}

// markDuplicates skips every row of the chunk whose Key an earlier row of
// the campaign has, naming the first (ledger/sqlite_write.go).
const markDuplicates = `UPDATE recipients AS r SET state = 'skipped', updated_at = $1,
	text = 'duplicate of row ' || (SELECT MIN(d.row) FROM recipients AS d
		WHERE d.campaign_id = r.campaign_id AND d.norm = r.norm AND d.norm <> '')
	WHERE r.campaign_id = $2 AND r.row BETWEEN $3 AND $4 AND r.norm <> '' AND r.state = 'new' AND EXISTS (
		SELECT 1 FROM recipients AS d
		WHERE d.campaign_id = r.campaign_id AND d.norm = r.norm AND d.norm <> '' AND d.row < r.row)`

// suppressRows skips the chunk's rows whose Key is suppressed.
const suppressRows = `UPDATE recipients AS r SET state = 'skipped', next_attempt = 0, updated_at = $1,
	text = 'suppressed: ' || s.reason FROM suppressions AS s
	WHERE s.address = r.norm AND r.norm <> '' AND r.campaign_id = $2 AND r.row BETWEEN $3 AND $4 AND r.state = 'new'`

// Commit flushes the last rows and marks the campaign imported.
// The import lock is released either way.
func (im *importer) Commit() error {
	defer im.release()
	if err := im.commit(); err != nil {
		return err
	}
	if _, err := im.s.pool.Exec(im.ctx, `UPDATE campaigns SET imported = true WHERE id = $1`, im.id); err != nil {
		return wrap("import", err)
	}
	// Statistics that predate the list make the planner read the whole
	// campaign where it should look rows up by key; autovacuum would see
	// to them only later. ANALYZE samples: a fraction of a second at a
	// million rows.
	_, err := im.s.pool.Exec(im.ctx, `ANALYZE recipients`)
	return wrap("import: analyze", err)
}

// Rollback drops the rows added since the last commit and releases the
// import lock.
func (im *importer) Rollback() error {
	im.rows = nil
	im.release()
	return nil
}

// LastRow is the highest row the campaign has, 0 if none.
func (s *Store) LastRow(ctx context.Context, campaignID int64) (int, error) {
	var last *int32
	err := s.pool.QueryRow(ctx, `SELECT MAX(row) FROM recipients WHERE campaign_id = $1`, campaignID).Scan(&last)
	if err != nil || last == nil {
		return 0, wrap("last row", err)
	}
	return int(*last), nil
}
