package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/findash/findash/internal/market"
)

// inUseGrace is how long CheckUnused waits for findash connections to go
// away before it refuses: a findash that has just stopped (a migrate run
// before, a server scaled to 0) closes its connections without waiting for
// the server, whose backends then linger in pg_stat_activity for a moment.
const inUseGrace = time.Second

// CheckUnused returns nil when no other connection to the primary's
// database carries ServerApplicationName, as every findash server's and
// tool's connections do unless their URL names them otherwise; otherwise
// an error wrapping market.ErrConflict that says how many and from where.
// It is what `findash migrate --down-to` runs first: a server still running
// fails on what the Downs drop. Open db with another Config.ApplicationName,
// or its own connections count. It sees what the server lists, so a
// PgBouncer's server connections count as long as PgBouncer keeps them
// (server_idle_timeout) after its clients left; and a findash that
// connects after the check is not seen.
func (db *DB) CheckUnused(ctx context.Context) error {
	deadline := time.Now().Add(inUseGrace)
	for {
		n, from, err := db.findashSessions(ctx)
		if err != nil {
			return fmt.Errorf("look for running findash: %w", err)
		}
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("database in use: %w: %d connections named %q (findash servers or tools) are open on it, from %s; stop every findash on the database first (a PgBouncer in front keeps its server connections for its server_idle_timeout)",
				market.ErrConflict, n, ServerApplicationName, from)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// findashSessions counts the other sessions on the primary's database
// named ServerApplicationName, and lists their client addresses (hidden
// from a role without pg_read_all_stats when another role opened them).
func (db *DB) findashSessions(ctx context.Context) (n int, from string, err error) {
	ctx, cancel := db.timeout(ctx)
	defer cancel()
	err = db.primary.QueryRow(ctx, `SELECT count(*), coalesce(string_agg(DISTINCT coalesce(host(client_addr), 'a local socket or hidden'), ', '), '')
		FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1 AND pid <> pg_backend_pid()`,
		ServerApplicationName).Scan(&n, &from)
	return n, from, translate(err)
}
