package postgres

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/findash/findash/internal/market"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// replica is one read replica's pool and health. Its health is unknown
// until the first read or ping reaches it or fails to (Replicas and Check
// report it not healthy meanwhile, so an unreachable replica never reads
// "ok" at start); reads still try it. It is healthy from a success until a
// read or a ping fails to reach it; then it is skipped until retryAt,
// which backs off (RetryMin doubling to RetryMax, with jitter) with each
// consecutive failure. The first read or ping after retryAt probes it
// (retryAt is pushed forward first, so only one caller probes at a time);
// a success makes it healthy again.
type replica struct {
	addr string // host:port, for logs and Replicas
	pool *pgxpool.Pool

	mu       sync.Mutex
	checked  bool // a read or ping has reached it, or failed to
	healthy  bool
	failures int
	retryAt  time.Time
	lastErr  error
}

// errNotChecked is the health of a replica no read or ping has reached yet.
var errNotChecked = errors.New("not checked yet")

// replicaSet routes reads over the replicas.
type replicaSet struct {
	cfg  Config
	log  *slog.Logger
	list []*replica
	next atomic.Uint64 // round-robin cursor
}

// ReplicaHealth is what Replicas reports about one replica.
type ReplicaHealth struct {
	Addr    string // host:port
	Healthy bool
	Err     string // the last failure, "not checked yet" before the first check, "" when healthy
}

// Replicas reports the health of every configured replica, in
// configuration order.
func (db *DB) Replicas() []ReplicaHealth {
	out := make([]ReplicaHealth, 0, len(db.replicas.list))
	for _, r := range db.replicas.list {
		r.mu.Lock()
		h := ReplicaHealth{Addr: r.addr, Healthy: r.healthy}
		switch {
		case !r.checked:
			h.Err = errNotChecked.Error()
		case !r.healthy && r.lastErr != nil:
			h.Err = r.lastErr.Error()
		}
		r.mu.Unlock()
		out = append(out, h)
	}
	return out
}

// usable reports whether r may take a read now, and if r is unhealthy but
// due for a probe, claims the probe by pushing retryAt forward. A replica
// not checked yet is usable: its first read is its first check.
func (r *replica) usable(now time.Time, cfg *Config) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.healthy || !r.checked {
		return true
	}
	if now.Before(r.retryAt) {
		return false
	}
	r.retryAt = now.Add(backoff(r.failures, cfg))
	return true
}

func (r *replica) succeeded(log *slog.Logger) {
	r.mu.Lock()
	was, first := r.healthy, !r.checked
	r.checked, r.healthy, r.failures, r.lastErr = true, true, 0, nil
	r.mu.Unlock()
	switch {
	case first:
		log.Info("replica reachable", "replica", r.addr)
	case !was:
		log.Info("replica healthy again", "replica", r.addr)
	}
}

func (r *replica) failed(err error, now time.Time, cfg *Config, log *slog.Logger) {
	r.mu.Lock()
	was := r.healthy || !r.checked
	r.checked, r.healthy = true, false
	r.failures++
	r.lastErr = err
	r.retryAt = now.Add(backoff(r.failures, cfg))
	r.mu.Unlock()
	if was {
		log.Warn("replica unhealthy, reads go elsewhere", "replica", r.addr, "err", err)
	}
}

// backoff is the wait after the n-th consecutive failure: RetryMin·2^(n-1)
// capped at RetryMax, then between 50% and 100% of that (jitter, so
// instances do not probe in step).
func backoff(n int, cfg *Config) time.Duration {
	d := cfg.RetryMin
	for i := 1; i < n && d < cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, cfg.RetryMax)
	return d/2 + rand.N(d/2+1)
}

// pick returns the replicas to try for one read, in order: the usable ones
// starting at the round-robin cursor. Empty means read from the primary.
func (rs *replicaSet) pick(now time.Time) []*replica {
	n := len(rs.list)
	if n == 0 {
		return nil
	}
	start := int(rs.next.Add(1) % uint64(n))
	var out []*replica
	for i := range n {
		r := rs.list[(start+i)%n]
		if r.usable(now, &rs.cfg) {
			out = append(out, r)
		}
	}
	return out
}

// pingAll pings every replica that is healthy or due for a probe.
func (rs *replicaSet) pingAll(ctx context.Context) {
	now := time.Now()
	for _, r := range rs.list {
		if !r.usable(now, &rs.cfg) {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, rs.cfg.ConnectTimeout+time.Second)
		err := r.pool.Ping(pctx)
		cancel()
		switch {
		case err == nil:
			r.succeeded(rs.log)
		case ctx.Err() != nil:
			return
		default:
			r.failed(err, time.Now(), &rs.cfg, rs.log)
		}
	}
}

func (rs *replicaSet) close() {
	for _, r := range rs.list {
		r.pool.Close()
	}
}

// read runs fn on a replica (round-robin over the healthy ones, moving on
// to the next when one cannot be reached) or, when none can, on the
// primary. An error from fn that is not about reaching the server (a bad
// query, a cancelled ctx) is returned as is, without trying elsewhere. A ctx
// marked by market.WithPrimaryReads reads the primary only.
func (db *DB) read(ctx context.Context, fn func(ctx context.Context, p *pgxpool.Pool) error) error {
	if market.PrimaryReads(ctx) {
		return fn(ctx, db.primary)
	}
	for _, r := range db.replicas.pick(time.Now()) {
		err := fn(ctx, r.pool)
		switch {
		case err == nil:
			r.succeeded(db.log)
			return nil
		case ctx.Err() != nil || !tryElsewhere(err):
			return err
		}
		if isConnErr(err) {
			r.failed(err, time.Now(), &db.cfg, db.log)
		}
	}
	return fn(ctx, db.primary)
}

// tryElsewhere reports whether a read that failed with err on a replica
// should be tried on the next one (or the primary): the replica cannot be
// reached, or it cancelled the query because of a conflict with recovery.
func tryElsewhere(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "40001" {
		return true
	}
	return isConnErr(err)
}
