package redis

import (
	"context"
	"fmt"
	"log/slog"

	goredis "github.com/redis/go-redis/v9"
)

// SetDriverLogger sends go-redis's own log lines (for example one per failed
// dial while Redis is down) to log at warn level, component "redis", instead
// of the standard library's log on stderr. go-redis keeps its logger in a
// process-wide variable, so this affects every client in the process: call it
// once, from main, before Open.
func SetDriverLogger(log *slog.Logger) {
	goredis.SetLogger(driverLogger{log.With("component", "redis")})
}

type driverLogger struct{ log *slog.Logger }

func (l driverLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, fmt.Sprintf(format, v...))
}
