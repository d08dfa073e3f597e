package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/findash/findash/internal/alert"
	"github.com/findash/findash/internal/api"
	"github.com/findash/findash/internal/archive"
	"github.com/findash/findash/internal/auth"
	"github.com/findash/findash/internal/bus"
	"github.com/findash/findash/internal/config"
	"github.com/findash/findash/internal/jobs"
	"github.com/findash/findash/internal/live"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/notify"
	"github.com/findash/findash/internal/objstore"
	"github.com/findash/findash/internal/persist"
	"github.com/findash/findash/internal/portfolio"
	"github.com/findash/findash/internal/redis"
	"github.com/findash/findash/internal/report"
	"github.com/findash/findash/internal/retention"
	"github.com/findash/findash/internal/store/postgres"
	"github.com/findash/findash/internal/store/sqlite"
	"github.com/findash/findash/internal/symbol"
	"github.com/findash/findash/internal/watchlist"
)

// This file is the one place that picks the concrete engines for a
// configuration: SQLite or PostgreSQL, embedded or external NATS, in-process
// or Redis cache and limits, River on SQLite or on PostgreSQL. Everything
// else receives small interfaces.

// database is everything findash keeps in SQL; sqlite.DB and postgres.DB
// both provide it (and pass the same conformance suites).
type database interface {
	persist.Store
	api.CandleStore
	api.AlertStore
	retention.Deleter
	archive.Source
	auth.Store
	auth.SessionStore
	auth.AccountStore
	auth.SessionLister
	watchlist.Store
	portfolio.Store
	alert.Store
	report.Store
	notify.Store
	symbol.Store
	api.TickReader
	live.Imports
	RestoreState(ctx context.Context) ([]market.Candle, market.Positions, error)
	Ping(ctx context.Context) error
	Close() error
}

var (
	_ database = (*sqlite.DB)(nil)
	_ database = (*postgres.DB)(nil)
)

// backend is the set of engines a configuration chose.
type backend struct {
	database
	run        func(context.Context) error // background upkeep of the database, or nil
	checks     []api.Check
	collectors []prometheus.Collector // the database's own metrics
}

// openStore opens the database the configuration names and applies its
// migrations: SQLite in the data dir, or PostgreSQL (with replicas) when
// database_url is set.
func openStore(ctx context.Context, cfg config.Config, log *slog.Logger) (*backend, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if cfg.DatabaseURL != "" {
		db, err := postgres.Open(ctx, postgres.Config{
			PrimaryURL:  cfg.DatabaseURL,
			ReplicaURLs: cfg.DatabaseReplicaURLs,
			MigrateURL:  cfg.DatabaseMigrateURL,
		}, log)
		if err != nil {
			return nil, err
		}
		if err := db.Migrate(ctx); err != nil {
			db.Close()
			return nil, err
		}
		checks := []api.Check{
			{Name: "database", Critical: true, Fn: db.Ping},
			{Name: "database_replicas", Critical: false, Fn: db.Check},
		}
		if len(cfg.DatabaseReplicaURLs) > 0 {
			// With replicas, an instance serves reads while there is no
			// primary (a failover, decision 0050): it stays ready
			// (degraded) while a replica answers, and only writes fail.
			checks[0].Fn = db.PingReads
			checks = append(checks, api.Check{Name: "database_primary", Critical: false, Fn: db.Ping})
		}
		return &backend{database: db, run: db.Run, checks: checks}, nil
	}
	db, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "findash.db"), log)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return &backend{database: db, checks: []api.Check{{Name: "database", Critical: true, Fn: db.Ping}}, collectors: db.Collectors()}, nil
}

// migrateDown opens the configured database without migrating it up and
// undoes its migrations above version to; it returns the version the
// database was at. SQLite's data dir is locked first, as serve locks it,
// so that it never runs under a server (nor a server starts under it).
// On PostgreSQL it first refuses while findash connections (servers,
// tools) are open on the database, and its own are named apart so as not
// to count; the Downs run over the migrate URL, under the advisory lock a
// starting server's migrations take.
func migrateDown(ctx context.Context, cfg config.Config, log *slog.Logger, to int64) (from int64, err error) {
	if cfg.DatabaseURL != "" {
		db, err := postgres.Open(ctx, postgres.Config{PrimaryURL: cfg.DatabaseURL, MigrateURL: cfg.DatabaseMigrateURL, ApplicationName: "findash migrate"}, log)
		if err != nil {
			return 0, err
		}
		defer db.Close()
		if err := db.CheckUnused(ctx); err != nil {
			return 0, fmt.Errorf("migrate down: %w", err)
		}
		return db.MigrateDown(ctx, to)
	}
	unlock, err := lockDataDir(cfg)
	if err != nil {
		return 0, fmt.Errorf("migrate down: %w", err)
	}
	defer unlock()
	path := filepath.Join(cfg.DataDir, "findash.db")
	// sqlite.Open would create a missing file: a mistyped --data-dir
	// would then read as a database already at version 0.
	if _, err := os.Stat(path); err != nil {
		return 0, fmt.Errorf("migrate down: no database: %w", err)
	}
	db, err := sqlite.Open(ctx, path, log)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	return db.MigrateDown(ctx, to)
}

// jobsConfig maps the job queue's settings.
func jobsConfig(cfg config.Config) jobs.Config {
	return jobs.Config{AlertWorkers: cfg.JobsAlertWorkers, ReportWorkers: cfg.JobsReportWorkers}
}

// openJobs starts the job queue on the configuration's database: River on a
// separate SQLite file (so its polling never takes the persister's write
// lock), or on PostgreSQL over a direct pool (River's LISTEN/NOTIFY does not
// pass a transaction pooler).
func openJobs(ctx context.Context, cfg config.Config, h jobs.Handlers, log *slog.Logger, reg prometheus.Registerer) (*jobs.Queue, func(), error) {
	if cfg.DatabaseURL != "" {
		url := cfg.DatabaseMigrateURL
		if url == "" {
			url = cfg.DatabaseURL
		}
		// The store's per-host connect timeout: after a failover the
		// multi-host URL's dead first host costs each new connection 2 s.
		pc, err := postgres.DirectPoolConfig(url)
		if err != nil {
			return nil, nil, fmt.Errorf("job queue pool: %w", err)
		}
		pool, err := pgxpool.NewWithConfig(ctx, pc)
		if err != nil {
			return nil, nil, fmt.Errorf("job queue pool: %w", err)
		}
		q, err := jobs.New(ctx, riverpgxv5.New(pool), h, jobsConfig(cfg), log, reg)
		if err != nil {
			pool.Close()
			return nil, nil, err
		}
		return q, pool.Close, nil
	}
	jdb, err := sqlite.OpenJobsDB(ctx, filepath.Join(cfg.DataDir, "jobs.db"))
	if err != nil {
		return nil, nil, err
	}
	jc := jobsConfig(cfg)
	jc.OneProcess = true // jobs.db is this process's alone
	// Its inserts wake its workers; a poll finds only retries and jobs
	// whose time came (River's scheduler makes them available every 5 s).
	// Each poll is a query per queue (four), ~1-2 ms of CPU each on
	// SQLite (decision 0060).
	jc.PollInterval = 5 * time.Second
	q, err := jobs.New(ctx, riversqlite.New(jdb), h, jc, log, reg)
	if err != nil {
		jdb.Close()
		return nil, nil, err
	}
	return q, func() { jdb.Close() }, nil
}

// openObjects opens the object storage of reports: a bucket of the
// S3-compatible service at s3_endpoint, or a directory in the data dir.
// An unreachable service does not stop the start: the instance starts
// degraded (its readiness check says why) and report builds retry.
func openObjects(ctx context.Context, cfg config.Config, log *slog.Logger) (report.Objects, []api.Check, error) {
	if cfg.S3Endpoint == "" {
		l, err := objstore.NewLocal(filepath.Join(cfg.DataDir, "reports"))
		return l, nil, err
	}
	s, err := objstore.NewS3(objstore.S3Config{
		Endpoint:  cfg.S3Endpoint,
		Bucket:    cfg.S3Bucket,
		AccessKey: cfg.S3AccessKey,
		SecretKey: cfg.S3SecretKey,
		Region:    cfg.S3Region,
	}, log)
	if err != nil {
		return nil, nil, err
	}
	bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.EnsureBucket(bctx); err != nil {
		log.Warn("object storage unavailable at start; reports will fail until it is back", "err", err)
	}
	return s, []api.Check{{Name: "object_storage", Critical: false, Fn: s.Check}}, nil
}

// openBus connects to the event log: an embedded NATS server in the data dir,
// or the external cluster of nats_url.
func openBus(ctx context.Context, cfg config.Config, log *slog.Logger) (*bus.Bus, error) {
	return bus.Open(ctx, bus.Config{
		URL:      cfg.NATSURL,
		DataDir:  cfg.DataDir,
		Replicas: cfg.StreamReplicas,
		MaxAge:   cfg.StreamMaxAge,
		// A mirror region's log follows the primary's (decision 0036).
		MirrorDomain: cfg.StreamMirrorDomain,
		Partitions:   cfg.LogPartitions,
		// The layout guard (decision 0044): a log split otherwise is
		// refused unless this start is the asked change.
		Repartition:    cfg.LogPartitionsFrom >= 0,
		PartitionsFrom: cfg.LogPartitionsFrom,
	}, log)
}

// openRedis connects to Redis when redis_url is set; nil otherwise. It does
// not fail when Redis is down: the instance starts degraded and heals.
func openRedis(ctx context.Context, cfg config.Config, log *slog.Logger, reg prometheus.Registerer) (*redis.Client, error) {
	if cfg.RedisURL == "" {
		return nil, nil
	}
	return redis.Open(ctx, cfg.RedisURL, redis.Config{}, log, reg)
}

// sharedLimiter counts in Redis so every instance shares the budget, and
// falls back to counting in-process while Redis is unavailable.
type sharedLimiter struct {
	redis *redis.Client
	local *api.LocalLimiter
}

func (l sharedLimiter) Allow(ctx context.Context, key string, lim api.Limit) (bool, time.Duration, error) {
	ok, retry, err := l.redis.Allow(ctx, key, lim.Rate, lim.Burst)
	if err != nil {
		return l.local.Allow(ctx, key, lim)
	}
	return ok, retry, nil
}

func (l sharedLimiter) Fail(ctx context.Context, key string, lim api.Limit) (time.Duration, error) {
	wait, err := l.redis.Spend(ctx, key, lim.Rate, lim.Burst)
	if err != nil {
		return l.local.Fail(ctx, key, lim)
	}
	return wait, nil
}

// secretKeys derives the WebSocket-token and report-link keys from the
// configured secret, or from random bytes (stage 1, one instance: tokens and
// links die with the process).
func secretKeys(cfg config.Config) (wsKey, reportKey []byte, err error) {
	secret := []byte(cfg.SecretKey)
	if len(secret) == 0 {
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, nil, fmt.Errorf("random secret: %w", err)
		}
	}
	derive := func(label string) []byte {
		h := sha256.New()
		h.Write([]byte(label))
		h.Write(secret)
		return h.Sum(nil)
	}
	return derive("findash ws token\x00"), derive("findash report link\x00"), nil
}
