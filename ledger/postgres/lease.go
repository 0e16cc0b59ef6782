package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// takeLease registers this worker: a new lease, a new fencing token.
func (s *Store) takeLease(ctx context.Context) error {
	start := time.Now()
	err := s.pool.QueryRow(ctx, `INSERT INTO leases (worker, until) VALUES ($1, now() + $2 * interval '1 millisecond') RETURNING token`,
		s.worker, s.lease.Milliseconds()).Scan(&s.token)
	if err != nil {
		return fmt.Errorf("ledger: take a lease: %w", err)
	}
	s.extend(start)
	// Leases of workers gone for a day hold nothing: their rows were taken
	// over (or are, as any lapsed worker's), whether or not the row is here.
	if _, err := s.pool.Exec(ctx, `DELETE FROM leases WHERE until < now() - interval '1 day'`); err != nil {
		return fmt.Errorf("ledger: old leases: %w", err)
	}
	return nil
}

// extend notes a renewal sent at start: the database set until to its
// now() plus the lease, and its now() was not before our start, so until
// start + lease (our clock) no other worker can take this one's rows.
func (s *Store) extend(start time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.fenced {
		s.validUntil = start.Add(s.lease)
	}
}

// renew extends the lease every Lease/3 until Close. A lease found lapsed
// is never renewed (another worker may have taken its rows): the Store is
// fenced for good.
func (s *Store) renew() {
	defer close(s.done)
	t := time.NewTicker(s.lease / 3)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.lease/3)
		err := s.renewOnce(ctx)
		cancel()
		if errors.Is(err, ErrFenced) {
			return
		}
		// Any other error (the database out of reach) is tried again at
		// the next tick; validUntil passes meanwhile, and fences us then.
	}
}

func (s *Store) renewOnce(ctx context.Context) error {
	start := time.Now()
	var token int64
	err := s.pool.QueryRow(ctx, `UPDATE leases SET until = now() + $2 * interval '1 millisecond' WHERE token = $1 AND until > now() RETURNING token`,
		s.token, s.lease.Milliseconds()).Scan(&token)
	if errors.Is(err, pgx.ErrNoRows) {
		s.fence()
		return ErrFenced
	}
	if err != nil {
		return err
	}
	s.extend(start)
	return nil
}

func (s *Store) fence() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fenced = true
	s.validUntil = time.Time{}
}

// live is ErrFenced once this worker may have lost its rows: the lease was
// found lapsed, or has not been renewed within the lease.
func (s *Store) live() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fenced || !time.Now().Before(s.validUntil) {
		return fmt.Errorf("%w (worker %s)", ErrFenced, s.worker)
	}
	return nil
}

// liveTokens is SQL for the tokens of every worker whose lease is current.
const liveTokens = `ARRAY(SELECT token FROM leases WHERE until > now())`
