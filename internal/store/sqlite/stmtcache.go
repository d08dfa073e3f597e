package sqlite

import (
	"context"
	"database/sql/driver"
	"fmt"
	"sync"
)

// maxCachedStmts and maxCachedSQL bound the writer's cached statements:
// WriteBatch's multi-row inserts come in one statement per row count, and
// only the short ones are kept (up to ~150 tick rows, ~30 candle rows),
// so the cache holds at most 128 small programs. A longer statement,
// whose preparing is small beside its rows' work, is prepared per batch
// as before.
const (
	maxCachedStmts = 128
	maxCachedSQL   = 2 << 10
)

// stmtCache keeps WriteBatch's statements prepared on the writer's driver
// connection. At low rates a batch holds a tick or two, and preparing its
// statements — the candle upsert's long ON CONFLICT clause above all —
// was ~6 % of the server's CPU in a profile of one-tick POSTs at 200 a
// second (docs/benchmarks/ws.md). SQLite re-prepares a statement whose
// schema changed by itself. Statements are kept for the connection they
// were prepared on: if database/sql replaces it (after a bad connection),
// the cache starts over and drops the old ones without closing them —
// finalizing a statement after its connection closed would use freed
// memory — which leaks them, once, with a connection already gone.
type stmtCache struct {
	mu    sync.Mutex // WriteBatch holds db.w's one connection; this guards the map all the same
	conn  rawConn
	stmts map[string]rawStmt
}

// stmt returns query prepared on c, from the cache or prepared now and
// kept; ok false (and no error) when the cache is full or query too
// long: then the caller runs query as before the cache.
func (sc *stmtCache) stmt(ctx context.Context, c rawConn, query string) (s rawStmt, ok bool, err error) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.conn != c {
		sc.conn, sc.stmts = c, make(map[string]rawStmt)
	}
	if s, ok := sc.stmts[query]; ok {
		return s, true, nil
	}
	if len(sc.stmts) >= maxCachedStmts || len(query) > maxCachedSQL {
		return rawStmt{}, false, nil
	}
	p, err := connRunner{c}.prepare(ctx, query)
	if err != nil {
		return rawStmt{}, false, err
	}
	s = p.(rawStmt)
	sc.stmts[query] = s
	return s, true, nil
}

// cachingRunner is connRunner with its statements from a stmtCache.
type cachingRunner struct {
	c     rawConn
	cache *stmtCache
}

func (r cachingRunner) exec(ctx context.Context, query string, args []driver.NamedValue) error {
	s, ok, err := r.cache.stmt(ctx, r.c, query)
	switch {
	case err != nil:
		return fmt.Errorf("prepare: %w", err)
	case !ok:
		return connRunner{r.c}.exec(ctx, query, args)
	}
	return s.exec(ctx, args)
}

func (r cachingRunner) prepare(ctx context.Context, query string) (preparedStmt, error) {
	s, ok, err := r.cache.stmt(ctx, r.c, query)
	switch {
	case err != nil:
		return nil, err
	case !ok:
		return connRunner{r.c}.prepare(ctx, query)
	}
	return keptStmt{s}, nil
}

// query runs a query of one row, prepared from the cache when it has
// room.
func (r cachingRunner) query(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	s, ok, err := r.cache.stmt(ctx, r.c, query)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	if q, isQ := s.s.(driver.StmtQueryContext); ok && isQ {
		return q.QueryContext(ctx, args)
	}
	return r.c.QueryContext(ctx, query, args)
}

// keptStmt is a cached statement handed out as a preparedStmt: its Close
// leaves it to the cache.
type keptStmt struct{ rawStmt }

func (keptStmt) Close() error { return nil }
