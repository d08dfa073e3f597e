package gateway

import (
	"context"
	"runtime"
	"time"

	"github.com/findash/findash/internal/market"
)

// Authenticator resolves a session token or API key to a user. It is
// declared here, where it is consumed; the auth package satisfies it.
type Authenticator interface {
	// AuthenticateToken returns the user the token belongs to, or an error
	// when the token is unknown, expired or cannot be checked.
	AuthenticateToken(ctx context.Context, token string) (userID int64, err error)
}

// SessionAuthenticator is an Authenticator that also tells which login
// session a credential is, or was made from, so that the hub can close the
// connection when that session ends: its expiry passes, or the session
// store no longer holds it (a logout or revocation whose announcement this
// instance missed). The auth package satisfies it; the hub uses it instead
// of AuthenticateToken when Config.Auth implements it.
type SessionAuthenticator interface {
	Authenticator
	// AuthenticateSession is AuthenticateToken that also returns the
	// token's session: an opaque key ("" when the credential names none)
	// and when it expires (zero when not known).
	AuthenticateSession(ctx context.Context, token string) (userID int64, session string, expires time.Time, err error)
	// LiveSessions reports, for each of sessions (keys from
	// AuthenticateSession), whether it is still live. An error means it
	// could not tell (the store is unreachable): nothing is closed.
	LiveSessions(ctx context.Context, sessions []string) (live []bool, err error)
}

// History reads ticks from the durable event log, for clients the replay
// rings cannot serve. It is declared here, where it is consumed; the bus
// satisfies it.
type History interface {
	// Ticks returns symbol's ticks with a seq above after, oldest first,
	// at least atLeast of them when the log holds that many, or all up to
	// until (it may return more). lost > after says the log no longer
	// holds the ticks after `after` up to lost; the ticks returned come
	// after lost.
	Ticks(ctx context.Context, symbol string, after, until uint64, atLeast int) (ticks []market.Tick, lost uint64, err error)
}

// Config holds the tunables of a Hub. The zero value of every field selects
// the default written next to it.
type Config struct {
	// AllowedOrigins lists the browser origins (e.g. "https://dash.example.com",
	// or "*" for any) allowed to open a connection, in addition to the
	// request's own host, which is always allowed. A request without an
	// Origin header (a program, not a browser) is always allowed.
	// Default: only the own host.
	AllowedOrigins []string
	// MaxSubscriptions is the most channels one connection may subscribe to.
	// Default 200.
	MaxSubscriptions int
	// MaxMessageBytes is the largest client message accepted; a larger one
	// gets an error and the connection is closed with 1008. Default 16 KiB.
	MaxMessageBytes int
	// MessageRate is the sustained number of client messages per second a
	// connection may send; MessageBurst the burst above it. Default 20/s,
	// burst 40. Messages over the rate answer error rate_limited; after
	// MaxStrikes such errors the connection is closed with 1008.
	MessageRate  float64
	MessageBurst int
	// PingRate is the sustained number of control frames (pings, and pongs
	// beyond the answers to the server's pings) per second a client may
	// send; PingBurst the burst above it. A client over it is closed with
	// 1008. Default 10/s, burst 20.
	PingRate  float64
	PingBurst int
	// MaxStrikes is the number of limit errors (rate_limited,
	// too_many_subscriptions) after which a connection is closed with 1008.
	// Default 3.
	MaxStrikes int
	// SendQueueBytes bounds the bytes waiting for one connection's writer
	// (the batch being written included; each message counts its bytes and
	// its slice header). A ticks channel whose ticks meet a full queue
	// lags: the writer reads them from the symbol's replay ring as the
	// queue drains (a resume with since is read the same way), and what
	// the ring no longer holds by then is reported with gap. Candles and
	// quotes never take queue room (one pending message per channel,
	// latest wins, shared by all subscribers); alerts that do not fit are
	// dropped. Replies and snapshots may use the bound a second time over;
	// past that the connection is closed with 1008. Default 512 KiB.
	SendQueueBytes int
	// MaxLag is how long a connection may stay behind after it lost ticks
	// (its lagging channel's ring no longer held them, reported with gap):
	// then it gets a gap for each channel it is behind on and is closed
	// with 1008 as a slow consumer. Default 10s.
	MaxLag time.Duration
	// ReplayTicks is how many of the newest ticks are held per symbol for
	// resuming with since. Default 10,000.
	ReplayTicks int
	// ReplayAge drops held ticks older than this (arrival time). Default 5m.
	ReplayAge time.Duration
	// WriteTimeout bounds each write to a client. A client that takes
	// nothing for this long is a slow consumer: the frame being written is
	// finished, a gap sent for each channel it is behind on and the
	// connection closed with 1008, if it takes them within another
	// WriteTimeout; otherwise the TCP connection is cut. It is also how
	// long the server waits for a client's reply to its close frame.
	// Default 10s.
	WriteTimeout time.Duration
	// WriteCoalesce is the least time between two writes to a connection
	// written often (its last two writes less than twice this apart):
	// what is queued meanwhile is sent in the next frame, with one
	// syscall. Any other connection is written at once by the writer
	// pool, with no timer and no goroutine of its own; only a busy one
	// waits, by at most this much, on a writer goroutine of its own. It
	// bounds the write syscalls per connection (20/s at the default),
	// which is what fan-out of many ticks a second to thousands of
	// clients costs. Default 50ms; negative: none.
	WriteCoalesce time.Duration
	// Writers is the number of goroutines of the writer pool, which writes
	// every connection's frames without waiting on a socket (a socket
	// that does not take a whole frame gets a writer goroutine of its own
	// until its queue is empty). Each connection is written by one of
	// them; what it is sent while it waits for its turn shares its next
	// frame and write. At most 64. Default GOMAXPROCS.
	Writers int
	// IOURingOff makes the writer pool write each frame with its own
	// write(2). By default a pass over several ready connections sends
	// their frames with one io_uring_enter per up to 32 (decision 0087),
	// where the kernel allows io_uring (a writer that cannot set its ring
	// up writes with write(2), and says so once in the log).
	IOURingOff bool
	// PingInterval is how often each client is pinged; a client silent for
	// two intervals is disconnected. Default 30s.
	PingInterval time.Duration
	// QuotesInterval is the least time between two quotes messages on the
	// quotes channel. Default (and minimum) 250ms: at most 4 a second.
	QuotesInterval time.Duration
	// ReconnectAfter and ReconnectJitter shape the after_ms of the reconnect
	// message sent on Drain: ReconnectAfter plus a random share of
	// ReconnectJitter, so that clients do not return all at once.
	// Defaults 250ms and 2s.
	ReconnectAfter  time.Duration
	ReconnectJitter time.Duration
	// History, when set, is where a lagging ticks channel reads what its
	// replay ring no longer holds (a client that fell behind further than
	// the ring, or resumes from before it, e.g. after a drain): it gets
	// those ticks rather than a gap, if it reads them within MaxLag. Nil:
	// a gap. Each read copies at most the send queue's bytes.
	History History
	// HistoryReaders bounds the reads of History in progress at once, for
	// all connections. Default 4.
	HistoryReaders int
	// Auth authenticates ?token= or the findash_session cookie. Nil means
	// nobody authenticates: market channels still work, alerts answers
	// unauthorized. It may also be set later with SetAuthenticator.
	Auth Authenticator
	// SessionCheckInterval is how often the hub checks the sessions behind
	// its authenticated connections (SessionAuthenticator): a connection
	// whose session has expired is closed with 1008 "session expired", one
	// whose session the store no longer holds with 1008 "session revoked".
	// It is the backstop of CloseUser, which a cut from the bus makes an
	// instance miss. Each check asks the store about each distinct session
	// once, in batches of at most sessionCheckBatch. Default 1m; negative:
	// no checks.
	SessionCheckInterval time.Duration
	// RevocationMemory is how long CloseUser remembers a user for the
	// connections that were being opened when it ran (authenticated
	// before the session ended, added after): as long as a WS token is
	// valid. A connection whose opening took longer than that is closed
	// as revoked if any revocation it may have missed is forgotten.
	// Default 1m.
	RevocationMemory time.Duration
	// Now is the clock every reading of the time in the gateway uses: the
	// ages of held ticks, socket read and write deadlines, the spacing of
	// coalesced writes. Timers and tickers are the time package's (a
	// testing/synctest bubble fakes both). Deadlines are set on real sockets
	// from it, so it must not run behind the wall clock. Default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.MaxSubscriptions <= 0 {
		c.MaxSubscriptions = 200
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = 16 << 10
	}
	if c.MessageRate <= 0 {
		c.MessageRate = 20
	}
	if c.MessageBurst <= 0 {
		c.MessageBurst = 40
	}
	if c.PingRate <= 0 {
		c.PingRate = 10
	}
	if c.PingBurst <= 0 {
		c.PingBurst = 20
	}
	if c.MaxStrikes <= 0 {
		c.MaxStrikes = 3
	}
	if c.SendQueueBytes <= 0 {
		c.SendQueueBytes = 512 << 10
	}
	if c.HistoryReaders <= 0 {
		c.HistoryReaders = 4
	}
	if c.MaxLag <= 0 {
		c.MaxLag = 10 * time.Second
	}
	if c.ReplayTicks <= 0 {
		c.ReplayTicks = 10_000
	}
	if c.ReplayAge <= 0 {
		c.ReplayAge = 5 * time.Minute
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.WriteCoalesce == 0 {
		c.WriteCoalesce = 50 * time.Millisecond
	}
	if c.Writers <= 0 {
		c.Writers = runtime.GOMAXPROCS(0)
	}
	c.Writers = min(c.Writers, 64)
	if c.PingInterval <= 0 {
		c.PingInterval = 30 * time.Second
	}
	if c.QuotesInterval < 250*time.Millisecond {
		c.QuotesInterval = 250 * time.Millisecond
	}
	if c.ReconnectAfter <= 0 {
		c.ReconnectAfter = 250 * time.Millisecond
	}
	if c.ReconnectJitter <= 0 {
		c.ReconnectJitter = 2 * time.Second
	}
	if c.SessionCheckInterval == 0 {
		c.SessionCheckInterval = time.Minute
	}
	if c.RevocationMemory <= 0 {
		c.RevocationMemory = time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}
