package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"
)

// batchInsert runs a multi-row statement "head VALUES (?,..),(?,..)... tail"
// over n rows of cols columns each, rowsPer rows per statement. Full-size
// statements are prepared once per call and reused.
//
// Measured here with BenchmarkWriteBatchVsBare (10K ticks and ~1.1K
// candles per WriteBatch, against a bare single-row prepared INSERT of the
// same ticks, interleaved so both see the same machine load): WriteBatch at
// one row per statement reached 0.77–0.83 of the bare rate, at 200 ticks /
// 64 candles per statement 0.88–0.90, at 500 / 200 0.93–0.95. Fewer
// database/sql and driver calls per row is what pays. Beware plain
// multi-row INSERT (ABORT conflict policy): SQLite then keeps a statement
// journal, and it was ~35% slower than single-row in the bare baseline;
// INSERT OR IGNORE does not need one.
type batchInsert struct {
	head, tail string
	cols       int
	rowsPer    int
}

func (b batchInsert) sql(rows int) string {
	var sb strings.Builder
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?,", b.cols), ",") + ")"
	sb.Grow(len(b.head) + len(b.tail) + rows*(len(tuple)+1) + 16)
	sb.WriteString(b.head)
	sb.WriteString(" VALUES ")
	for i := range rows {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(tuple)
	}
	sb.WriteByte(' ')
	sb.WriteString(b.tail)
	return sb.String()
}

// exec runs the statements for n rows on r; fill writes row i's values
// into dst (len cols; ordinals are set).
func (b batchInsert) exec(ctx context.Context, r stmtRunner, n int, fill func(dst []driver.NamedValue, i int)) error {
	if n == 0 {
		return nil
	}
	args := make([]driver.NamedValue, b.cols*min(n, b.rowsPer))
	for i := range args {
		args[i].Ordinal = i + 1
	}
	var full preparedStmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	for off := 0; off < n; off += b.rowsPer {
		rows := min(b.rowsPer, n-off)
		a := args[:rows*b.cols]
		for i := range rows {
			fill(a[i*b.cols:(i+1)*b.cols], off+i)
		}
		if rows < b.rowsPer {
			if err := r.exec(ctx, b.sql(rows), a); err != nil {
				return err
			}
			continue
		}
		if full == nil {
			s, err := r.prepare(ctx, b.sql(rows))
			if err != nil {
				return fmt.Errorf("prepare: %w", err)
			}
			full = s
		}
		if err := full.exec(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

// stmtRunner runs a transaction's statements: txRunner through
// database/sql, connRunner on the driver's connection itself.
type stmtRunner interface {
	exec(ctx context.Context, query string, args []driver.NamedValue) error
	prepare(ctx context.Context, query string) (preparedStmt, error)
}

// preparedStmt is a statement a stmtRunner prepared.
type preparedStmt interface {
	exec(ctx context.Context, args []driver.NamedValue) error
	Close() error
}

// txRunner runs statements in a database/sql transaction, which converts
// every argument (driver.DefaultParameterConverter) into a slice of its
// own per statement.
type txRunner struct {
	tx   *sql.Tx
	args *[]any // reused between statements
}

func newTxRunner(tx *sql.Tx) txRunner { return txRunner{tx: tx, args: new([]any)} }

func (r txRunner) values(args []driver.NamedValue) []any {
	a := (*r.args)[:0]
	for i := range args {
		a = append(a, args[i].Value)
	}
	*r.args = a
	return a
}

func (r txRunner) exec(ctx context.Context, query string, args []driver.NamedValue) error {
	_, err := r.tx.ExecContext(ctx, query, r.values(args)...)
	return err
}

func (r txRunner) prepare(ctx context.Context, query string) (preparedStmt, error) {
	s, err := r.tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	return txStmt{s, r}, nil
}

type txStmt struct {
	s *sql.Stmt
	r txRunner
}

func (s txStmt) exec(ctx context.Context, args []driver.NamedValue) error {
	_, err := s.s.ExecContext(ctx, s.r.values(args)...)
	return err
}

func (s txStmt) Close() error { return s.s.Close() }

// rawConn is what WriteBatch needs of the driver's connection (modernc's).
type rawConn interface {
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
}

// connRunner runs statements on the driver's connection: the values go to
// the driver as they are, so they must be driver.Values (int64, float64,
// string; not int or uint64). WriteBatch runs on it: database/sql's
// conversion of every argument into a new []driver.NamedValue per
// statement was 5 % of WriteBatch's CPU in a profile of
// BenchmarkWriteBatchSize/ticks=50000 (docs/benchmarks/ingest.md).
type connRunner struct{ c rawConn }

func (r connRunner) exec(ctx context.Context, query string, args []driver.NamedValue) error {
	_, err := r.c.ExecContext(ctx, query, args)
	return err
}

func (r connRunner) prepare(ctx context.Context, query string) (preparedStmt, error) {
	s, err := r.c.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	se, ok := s.(driver.StmtExecContext)
	if !ok {
		s.Close()
		return nil, fmt.Errorf("prepare: the driver's statement %T has no ExecContext", s)
	}
	return rawStmt{se, s}, nil
}

type rawStmt struct {
	se driver.StmtExecContext
	s  driver.Stmt
}

func (s rawStmt) exec(ctx context.Context, args []driver.NamedValue) error {
	_, err := s.se.ExecContext(ctx, args)
	return err
}

func (s rawStmt) Close() error { return s.s.Close() }
