package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/findash/findash/internal/bus"
	"github.com/findash/findash/internal/config"
	"github.com/findash/findash/internal/store/sqlite"
)

// This file is the one place that picks the concrete engines for a
// configuration: SQLite or PostgreSQL, embedded or external NATS, in-process
// or Redis cache. Everything else receives small interfaces.

// checkSupported rejects settings whose engines this build does not have yet,
// rather than silently running without them.
func checkSupported(cfg config.Config) error {
	var errs []error
	if cfg.DatabaseURL != "" || len(cfg.DatabaseReplicaURLs) > 0 {
		errs = append(errs, errors.New("database_url: PostgreSQL is not supported by this build yet; leave it empty for SQLite (stage 1)"))
	}
	if cfg.RedisURL != "" {
		errs = append(errs, errors.New("redis_url: Redis is not supported by this build yet; leave it empty for the in-process cache (stage 1)"))
	}
	if cfg.S3Endpoint != "" || cfg.SMTPURL != "" {
		errs = append(errs, errors.New("s3_*/smtp_url: reports and e-mail are not in this build yet"))
	}
	return errors.Join(errs...)
}

// openStore opens the database the configuration names and applies its
// migrations.
func openStore(ctx context.Context, cfg config.Config, log *slog.Logger) (*sqlite.DB, error) {
	if err := checkSupported(cfg); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	db, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "findash.db"), log)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// openBus connects to the event log: an embedded NATS server in the data dir,
// or the external cluster of FINDASH_NATS_URL.
func openBus(ctx context.Context, cfg config.Config, log *slog.Logger) (*bus.Bus, error) {
	return bus.Open(ctx, bus.Config{
		URL:      cfg.NATSURL,
		DataDir:  cfg.DataDir,
		Replicas: cfg.StreamReplicas,
		MaxAge:   cfg.StreamMaxAge,
	}, log)
}
