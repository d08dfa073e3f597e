package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/findash/findash/internal/market"
)

// Advisory lock keys (pg_advisory_*): one for goose's migrations, one for
// partition maintenance (creating and dropping ticks partitions).
const (
	migrateLockID   int64 = 0x66696e6461736801 // "findash" 01
	partitionLockID int64 = 0x66696e6461736802 // "findash" 02
)

// Config configures Open. Only PrimaryURL is required.
type Config struct {
	// PrimaryURL is where writes and read-your-writes go: postgres://… either
	// to the server or to a PgBouncer in transaction pooling mode in front
	// of it.
	PrimaryURL string
	// ReplicaURLs are read replicas (or PgBouncers in front of them);
	// Candles and Ticks are spread over the healthy ones, round-robin, and
	// go to the primary when none is healthy. Empty: every read goes to
	// the primary.
	ReplicaURLs []string
	// MigrateURL is a direct connection (not through PgBouncer: goose holds
	// a session advisory lock) used by Migrate. Default: PrimaryURL.
	MigrateURL string
	// MaxConns bounds each pool (primary, and each replica); default 10.
	MaxConns int32
	// QueryTimeout bounds every call that has no earlier deadline of its
	// own; default 10 s.
	QueryTimeout time.Duration
	// ConnectTimeout bounds dialling one server, so an unreachable replica
	// costs a read at most this before it falls back; default 2 s (a
	// connect_timeout in the URL wins).
	ConnectTimeout time.Duration
	// PingInterval is how often Run pings the replicas; default 5 s.
	PingInterval time.Duration
	// RetryMin and RetryMax bound the backoff before a failed replica is
	// tried again (doubling from RetryMin, with jitter); default 500 ms
	// and 30 s.
	RetryMin, RetryMax time.Duration
	// PartitionsAhead is how many days after today MaintainPartitions
	// creates tick partitions for; default 3.
	PartitionsAhead int
	// MaintainEvery is how often Run calls MaintainPartitions; default 1 h.
	MaintainEvery time.Duration
	// ApplicationName is the application_name of every connection (unless
	// a URL sets its own); default ServerApplicationName. A tool that
	// must not count itself as a running findash (migrate --down-to, see
	// CheckUnused) sets another.
	ApplicationName string
}

// ServerApplicationName is the application_name findash's connections carry
// by default, so that CheckUnused (and an operator's pg_stat_activity) can
// tell them from others.
const ServerApplicationName = "findash"

func (c *Config) setDefaults() {
	if c.MigrateURL == "" {
		c.MigrateURL = c.PrimaryURL
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 10
	}
	if c.QueryTimeout <= 0 {
		c.QueryTimeout = 10 * time.Second
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = defaultConnectTimeout
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 5 * time.Second
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 500 * time.Millisecond
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = max(c.RetryMin, 30*time.Second)
	}
	if c.PartitionsAhead <= 0 {
		c.PartitionsAhead = 3
	}
	if c.MaintainEvery <= 0 {
		c.MaintainEvery = time.Hour
	}
	if c.ApplicationName == "" {
		c.ApplicationName = ServerApplicationName
	}
}

// DB is an open findash PostgreSQL store: a pool on the primary and one per
// read replica. It is safe for concurrent use.
type DB struct {
	cfg      Config
	primary  *pgxpool.Pool
	replicas *replicaSet
	log      *slog.Logger

	partMu sync.Mutex
	parts  map[int64]bool // day numbers (ms / 86,400,000) whose ticks partition exists

	tickDropsSkipped atomic.Uint64 // DropEmptyTickDays: empty partitions kept, ticks busy
}

// defaultConnectTimeout is Config.ConnectTimeout's default.
const defaultConnectTimeout = 2 * time.Second

// DirectPoolConfig parses url for a pool of direct connections used beside
// the store — the PostgreSQL job queue's (River LISTENs, which a
// transaction pooler cannot carry) — with pgx's defaults but the store
// pools' connect timeout: each host of a multi-host URL gets 2 s (a
// connect_timeout in the URL wins), so a dead primary that drops packets
// costs a new connection 2 s before the next host is tried, not the
// kernel's TCP timeout (about 2 minutes).
func DirectPoolConfig(url string) (*pgxpool.Config, error) {
	if !strings.HasPrefix(url, "postgres://") && !strings.HasPrefix(url, "postgresql://") {
		return nil, market.Invalid("url", "not a postgres:// URL")
	}
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, market.Invalid("url", "%s", redactErr(err))
	}
	if !strings.Contains(url, "connect_timeout") {
		pc.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	nameConns(url, pc.ConnConfig, ServerApplicationName)
	return pc, nil
}

// poolConfig parses url and applies the settings every pool shares: a
// query exec mode that is safe through PgBouncer in transaction mode
// (cache_describe: unnamed statements only, no session state) unless the
// URL chose one, and the connect timeout.
func poolConfig(url string, cfg Config) (*pgxpool.Config, error) {
	if !strings.HasPrefix(url, "postgres://") && !strings.HasPrefix(url, "postgresql://") {
		return nil, market.Invalid("url", "not a postgres:// URL")
	}
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, market.Invalid("url", "%s", redactErr(err))
	}
	if !strings.Contains(url, "default_query_exec_mode") {
		pc.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
	}
	if !strings.Contains(url, "connect_timeout") {
		pc.ConnConfig.ConnectTimeout = cfg.ConnectTimeout
	}
	if !strings.Contains(url, "pool_max_conns") {
		pc.MaxConns = cfg.MaxConns
	}
	nameConns(url, pc.ConnConfig, cfg.ApplicationName)
	return pc, nil
}

// nameConns sets the application_name of the connections of url to name,
// unless the URL sets one: a findash whose URL names its connections
// otherwise is one CheckUnused cannot see.
func nameConns(url string, cc *pgx.ConnConfig, name string) {
	if !strings.Contains(url, "application_name") {
		cc.RuntimeParams["application_name"] = name
	}
}

// redactErr is err's message for a URL that does not parse; pgconn's parse
// errors already hide the password.
func redactErr(err error) string {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		return pe.Error()
	}
	return "cannot parse database URL"
}

// Open connects to the primary (and checks it answers) and sets up a pool
// per replica; replicas are connected lazily, so one that is down does not
// stop Open. It does not migrate; call Migrate. log may be nil.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*DB, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "postgres")
	cfg.setDefaults()
	if cfg.PrimaryURL == "" {
		return nil, fmt.Errorf("open postgres: %w", market.Invalid("url", "no primary URL"))
	}
	pc, err := poolConfig(cfg.PrimaryURL, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres primary: %w", err)
	}
	if _, err := pgx.ParseConfig(cfg.MigrateURL); err != nil {
		return nil, fmt.Errorf("open postgres: migrate URL: %w", market.Invalid("url", "%s", redactErr(err)))
	}
	primary, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("open postgres primary: %w", translate(err))
	}
	pctx, cancel := context.WithTimeout(ctx, cfg.QueryTimeout)
	defer cancel()
	if err := primary.Ping(pctx); err != nil {
		primary.Close()
		return nil, fmt.Errorf("open postgres primary %s: %w", pc.ConnConfig.Host, translate(err))
	}
	db := &DB{cfg: cfg, primary: primary, log: log, parts: make(map[int64]bool)}
	rs := &replicaSet{cfg: cfg, log: log}
	for i, u := range cfg.ReplicaURLs {
		rc, err := poolConfig(u, cfg)
		if err != nil {
			rs.close()
			primary.Close()
			return nil, fmt.Errorf("open postgres replica %d: %w", i, err)
		}
		p, err := pgxpool.NewWithConfig(ctx, rc)
		if err != nil {
			rs.close()
			primary.Close()
			return nil, fmt.Errorf("open postgres replica %d: %w", i, translate(err))
		}
		rs.list = append(rs.list, &replica{addr: fmt.Sprintf("%s:%d", rc.ConnConfig.Host, rc.ConnConfig.Port), pool: p})
	}
	db.replicas = rs
	return db, nil
}

// Ping checks that the primary answers. Replicas do not count: reads fall
// back to the primary without them (see Replicas).
func (db *DB) Ping(ctx context.Context) error {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	if err := db.primary.Ping(ctx); err != nil {
		return fmt.Errorf("ping postgres primary: %w", translate(err))
	}
	return nil
}

// PingReads checks that reads can be served: nil when the primary answers
// or, failing it, when one of the replicas does — the reads routed to
// replicas go on while there is no primary (a failover, decision 0050).
// The primary and every replica are pinged at once, so a primary that
// drops packets does not use up ctx before a replica is asked. Otherwise
// it returns the primary's error (Ping's).
func (db *DB) PingReads(ctx context.Context) error {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	type answer struct {
		primary bool
		err     error
	}
	answers := make(chan answer, 1+len(db.replicas.list))
	go func() { answers <- answer{true, db.Ping(ctx)} }()
	for _, r := range db.replicas.list {
		go func() { answers <- answer{false, r.pool.Ping(ctx)} }()
	}
	var primaryErr error
	for range cap(answers) {
		a := <-answers
		if a.err == nil {
			return nil // the others end with ctx (cancel), into the buffer
		}
		if a.primary {
			primaryErr = a.err
		}
	}
	return primaryErr
}

// Check is Ping for readiness probes: nil when the primary answers and
// every replica is healthy, an error wrapping market.ErrUnavailable when
// the primary does not, and one that does not (degraded: reads are served
// by the primary) when only replicas are down or not checked yet (a
// replica is unknown, not "ok", until a read or Run's first ping reaches
// it).
func (db *DB) Check(ctx context.Context) error {
	if err := db.Ping(ctx); err != nil {
		return err
	}
	var down []string
	for _, r := range db.Replicas() {
		if !r.Healthy {
			down = append(down, r.Addr+" ("+r.Err+")")
		}
	}
	if len(down) > 0 {
		return fmt.Errorf("postgres replicas not healthy (reads go to the others or the primary): %s", strings.Join(down, ", "))
	}
	return nil
}

// Close closes every pool; calls in flight fail.
func (db *DB) Close() error {
	db.replicas.close()
	db.primary.Close()
	return nil
}

// Run pings the replicas at once and then every Config.PingInterval (an
// unhealthy one only once its backoff has passed) and creates tick
// partitions ahead
// (MaintainPartitions) at start and every Config.MaintainEvery, until ctx
// ends; then it returns nil. Without Run, a failed replica is still retried
// by the reads themselves once its backoff has passed, and WriteBatch still
// creates the partitions it needs.
func (db *DB) Run(ctx context.Context) error {
	ping := time.NewTicker(db.cfg.PingInterval)
	defer ping.Stop()
	maint := time.NewTicker(db.cfg.MaintainEvery)
	defer maint.Stop()
	db.replicas.pingAll(ctx) // replicas read "not checked yet" until this
	db.maintain(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ping.C:
			db.replicas.pingAll(ctx)
		case <-maint.C:
			db.maintain(ctx)
		}
	}
}

func (db *DB) maintain(ctx context.Context) {
	if err := db.MaintainPartitions(ctx, time.Now()); err != nil && ctx.Err() == nil {
		db.log.Warn("maintain tick partitions", "err", err)
	}
}

// timeout gives ctx the configured query timeout unless it ends sooner.
func (db *DB) timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, db.cfg.QueryTimeout)
}

// collect runs sql on q and converts every row with fn (pgx.CollectRows);
// none is an empty slice. Errors are translated.
func collect[T any](ctx context.Context, q querier, fn pgx.RowToFunc[T], sql string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, translate(err)
	}
	out, err := pgx.CollectRows(rows, fn)
	if err != nil {
		return nil, translate(err)
	}
	return out, nil
}

// collectOne runs sql on q and converts its first row with fn
// (pgx.CollectOneRow: like QueryRow, further rows are ignored); none is
// market.ErrNotFound. Errors are translated.
func collectOne[T any](ctx context.Context, q querier, fn pgx.RowToFunc[T], sql string, args ...any) (T, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		var zero T
		return zero, translate(err)
	}
	v, err := pgx.CollectOneRow(rows, fn)
	return v, translate(err)
}

// translate maps driver errors onto market's sentinel kinds, keeping the
// original in the chain.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: %w", market.ErrNotFound, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505": // unique_violation
			return fmt.Errorf("%w: %w", market.ErrConflict, err)
		case pe.Code == "23503": // foreign_key_violation
			return fmt.Errorf("%w: %w", market.ErrNotFound, err)
		case pe.Code == "23514", pe.Code == "23502", strings.HasPrefix(pe.Code, "22"): // check, not null, data exceptions
			return fmt.Errorf("%w: %w", market.ErrInvalid, err)
		case pe.Code == "40001", pe.Code == "40P01", pe.Code == "55P03": // serialization, deadlock, lock not available
			return fmt.Errorf("%w: %w", market.ErrUnavailable, err)
		}
	}
	if isConnErr(err) {
		return fmt.Errorf("%w: %w", market.ErrUnavailable, err)
	}
	return err
}

// isConnErr reports whether err says the server could not be reached or
// went away (as opposed to an error in the query): what makes a replica
// unhealthy.
func isConnErr(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// 08: connection exception; 57P01-57P03: admin shutdown, crash
		// shutdown, cannot connect now (starting up); 3D000: no such
		// database (not created yet on this server).
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03" || pe.Code == "3D000"
	}
	if pgconn.SafeToRetry(err) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}
