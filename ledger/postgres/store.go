package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/safefile"
)

// ErrFenced is returned by Apply (and Due) once this worker's lease has
// lapsed, or when a row it writes is held by another worker since: the
// run must stop rather than write over another worker's newer claim.
var ErrFenced = errors.New("ledger: this worker's lease lapsed and another worker may hold its rows (fenced)")

// Options are a Store's settings.
type Options struct {
	// Worker names this process in the workers table and its lease:
	// host:pid:random. "" makes one.
	Worker string
	// Lease is how long this worker's rows stay its own without a renewal
	// (renewed every Lease/3); 0 means 60 s, and less than 1 s is refused.
	Lease time.Duration
	// PasswordFile holds the password (its first line) when the URL,
	// PGPASSWORD and .pgpass give none.
	PasswordFile string
	// Succeeds, when set, reports whether worker (another Store's
	// Options.Worker) was this process's predecessor, which has exited and
	// whose wire journal RecoverOnWire is given: RecoverOnWire ends its
	// lease and takes its rows over at once, only those on that wire
	// counting as in flight. SameHostExited is one such test.
	Succeeds func(worker string) bool
	// Tracer, when set, sees every query (tests count round trips).
	Tracer pgx.QueryTracer
}

// Store is the ledger in a PostgreSQL database several workers share.
type Store struct {
	pool   *pgxpool.Pool
	worker string
	lease  time.Duration
	token  int64 // this Store's lease: its fencing token

	mu         sync.Mutex
	validUntil time.Time            // this worker's rows are its own until then (our clock)
	fenced     bool                 // the lease was lost: for good
	recovering map[int64]recovering // per campaign, from RecoverInFlight: Due takes over dead workers' rows by it
	succeeds   func(worker string) bool
	importers  map[*importer]bool // holding a connection (and an import lock) until Commit or Rollback

	stop chan struct{}
	done chan struct{}
}

var _ ledger.Store = (*Store)(nil)
var _ ledger.Fleet = (*Store)(nil)

// Open connects to the database at url, applies any migration it lacks
// (under an advisory lock: workers starting at once do not race), takes
// this worker's lease and starts renewing it. Close releases it.
func Open(ctx context.Context, url string, opt Options) (*Store, error) {
	cfg, secrets, err := config(url, opt)
	if err != nil {
		return nil, redact(err, secrets)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, redact(fmt.Errorf("ledger: %w", err), secrets)
	}
	s := &Store{pool: pool, worker: opt.Worker, lease: opt.Lease, recovering: map[int64]recovering{}, succeeds: opt.Succeeds,
		importers: map[*importer]bool{}}
	if s.worker == "" {
		s.worker = DefaultWorker()
	}
	if s.lease == 0 {
		s.lease = 60 * time.Second
	}
	if s.lease < time.Second {
		pool.Close()
		return nil, fmt.Errorf("ledger: a lease of %s is too short (1s at least)", s.lease)
	}
	if err := s.start(ctx); err != nil {
		pool.Close()
		return nil, redact(err, secrets)
	}
	return s, nil
}

func (s *Store) start(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ledger: connect: %w", err)
	}
	if err := s.Migrate(ctx); err != nil {
		return err
	}
	if err := s.takeLease(ctx); err != nil {
		return err
	}
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go s.renew()
	return nil
}

// config parses url and adds the password file and the pool's settings.
// secrets are the strings no error may show.
func config(url string, opt Options) (*pgxpool.Config, []string, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx redacts the URL's password; the URL is not repeated here.
		return nil, nil, fmt.Errorf("ledger: the ledger URL: %w", err)
	}
	var secrets []string
	if p := cfg.ConnConfig.Password; p != "" {
		secrets = append(secrets, p)
	}
	if cfg.ConnConfig.Password == "" && opt.PasswordFile != "" {
		b, err := safefile.ReadFile(opt.PasswordFile) // a FIFO is refused, not waited on
		if err != nil {
			return nil, secrets, fmt.Errorf("ledger: password file: %w", err)
		}
		pw, _, _ := strings.Cut(string(b), "\n")
		cfg.ConnConfig.Password = strings.TrimSuffix(pw, "\r")
		secrets = append(secrets, cfg.ConnConfig.Password)
	}
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "mailblast"
	// pgx prepares each statement once per connection; after five runs the
	// server would switch to a generic plan, blind to the arrays' sizes and
	// the row ranges, and the group commit's UPDATEs then read the whole
	// campaign (measured: 200 ms instead of 2 ms a commit at 5,000 rows).
	cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	cfg.ConnConfig.Tracer = opt.Tracer
	if cfg.MaxConns < 8 {
		cfg.MaxConns = 8 // Apply from several goroutines, Due and the lease renewal beside them
	}
	return cfg, secrets, nil
}

// redact keeps every secret out of err's text. An error whose text held
// one is replaced by its redacted text alone (nothing to unwrap to).
func redact(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := msg
	for _, s := range secrets {
		if s != "" {
			clean = strings.ReplaceAll(clean, s, "xxxxx")
		}
	}
	if clean == msg {
		return err
	}
	return errors.New(clean)
}

// DefaultWorker is host:pid:random, unique per process.
func DefaultWorker() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b))
}

// Worker is this Store's worker name.
func (s *Store) Worker() string { return s.worker }

// Token is this Store's lease token: the owner its rows carry.
func (s *Store) Token() int64 { return s.token }

// Close stops renewing the lease and releases it: rows this worker
// reserved are free at once, rows it claimed (in flight) are for the
// other workers' recovery to settle. Then it closes the pool.
func (s *Store) Close() error {
	s.releaseImporters()
	if s.stop != nil {
		close(s.stop)
		<-s.done
		s.stop = nil
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := s.pool.Exec(ctx, `UPDATE leases SET until = now() WHERE token = $1 AND until > now()`, s.token)
		s.pool.Close()
		if err != nil {
			return fmt.Errorf("ledger: release the lease: %w", err)
		}
		return nil
	}
	s.pool.Close()
	return nil
}

// wrap adds context to a database error, and maps the errors the
// statements raise on purpose to the ledger's.
func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case codeFenced:
			return fmt.Errorf("ledger: %s: %w: %s", what, ErrFenced, pe.Message)
		case codeIllegal:
			return fmt.Errorf("ledger: %s: %w: %s", what, ledger.ErrIllegalTransition, pe.Message)
		}
	}
	if connectionLost(err) {
		return fmt.Errorf("ledger: %s: %w: %w", what, ErrUnavailable, err)
	}
	return fmt.Errorf("ledger: %s: %w", what, err)
}

// The SQLSTATEs of mailblast_check_outcomes (migrations/0001_init.sql).
const (
	codeFenced  = "MBFEN"
	codeIllegal = "MBILL"
)

// releaseImporters ends the imports left open (an error path that neither
// committed nor rolled back): the pool's Close waits for every connection.
func (s *Store) releaseImporters() {
	s.mu.Lock()
	var open []*importer
	for im := range s.importers {
		open = append(open, im)
	}
	s.mu.Unlock()
	for _, im := range open {
		_ = im.Rollback()
	}
}
