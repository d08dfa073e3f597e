package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/findash/findash/internal/market"
)

// OpenJobsDB opens (creating it if needed) the SQLite file the job queue
// (River's riversqlite driver) keeps its tables in, with the same pragmas as
// the store and one connection, as River's SQLite driver requires. It is a
// file of its own so that queue polling never takes the write lock the
// tick persister needs. The caller runs River's migrations and closes it.
func OpenJobsDB(ctx context.Context, path string) (*sql.DB, error) {
	if path == "" || strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("open jobs db: %w", market.Invalid("path", "%q is not a usable file path", path))
	}
	db, err := openOne(dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("open jobs db %s: %w", path, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open jobs db %s: %w", path, translate(err))
	}
	return db, nil
}
