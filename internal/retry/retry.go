// Package retry holds findash's retry policies, one per kind of dependency,
// in one place so that their numbers can be read, compared and tuned
// together. Each is an exponential backoff with jitter run by
// github.com/cenkalti/backoff/v5: callers pass a policy's Options to
// backoff.Retry with their context, so a wait ends as soon as the context
// does.
//
// Jitter (each wait drawn from ±20% around the exponential step) keeps
// instances that lost a dependency at the same moment from retrying in
// lockstep when it comes back.
//
// Redis (cache, sessions, rate limits) has no policy on purpose: its calls
// are not retried but fail fast through a circuit breaker (internal/redis),
// and every caller has a fallback (the database, or the in-process limit).
//
// The package imports nothing of findash's own: services and adapters
// import it, never the other way round.
package retry

import (
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Policy is the shape of one retry policy. The wait before retry n (1-based)
// is min(Initial·Multiplier^(n-1), Max), then moved by up to ±Jitter of itself.
type Policy struct {
	// Initial is the first wait.
	Initial time.Duration
	// Max caps the wait before jitter.
	Max time.Duration
	// Multiplier is how much the wait grows after each failure.
	Multiplier float64
	// Jitter is the randomization factor: a wait w becomes a random
	// duration in [w·(1-Jitter), w·(1+Jitter)].
	Jitter float64
	// Tries bounds the attempts, the first one included; 0 retries until
	// the context ends.
	Tries uint
}

// Database is for the SQL store (SQLite or PostgreSQL) read and written by
// the background loops: the persister, the alert evaluator, the live feed's
// restore. They cannot make progress without it and lose nothing by
// waiting (the event log keeps what they have not written), so they retry
// until their context ends. 100 ms is below a PostgreSQL failover or a
// PgBouncer reconnect, so a short blip costs little; doubling reaches the
// 5 s cap in six retries, so a long outage costs one query per loop every
// ~5 s per instance.
func Database() Policy {
	return Policy{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2, Jitter: 0.2}
}

// Log is for reading the event log (NATS JetStream): a consumer that failed
// and resumes, or a stream lookup at start. Same numbers as Database and
// for the same reasons: a NATS reconnect takes well under a second (the
// client reconnects by itself), and a reader retries until its context
// ends, because the log is the only source of what it reads.
func Log() Policy {
	return Policy{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2, Jitter: 0.2}
}

// LogSetup is for creating or updating the tick stream when an instance
// starts. A NATS cluster that is still electing its JetStream leader (servers
// and instances starting together) answers with timeouts for a few
// seconds: 8 tries waiting 250 ms doubling to 4 s span ~15 s of waits (plus
// each try's own timeout), long enough for an election, short enough that a
// misconfigured cluster fails the start instead of hanging it.
func LogSetup() Policy {
	return Policy{Initial: 250 * time.Millisecond, Max: 4 * time.Second, Multiplier: 2, Jitter: 0.2, Tries: 8}
}

// JobMigration is for applying the job queue's migrations at start. River's
// migrator takes no lock, so instances starting together may collide; a
// few short waits (100 ms doubling to 2 s, 8 tries, ~8 s in all) let one
// finish and the others find nothing left to do.
func JobMigration() Policy {
	return Policy{Initial: 100 * time.Millisecond, Max: 2 * time.Second, Multiplier: 2, Jitter: 0.2, Tries: 8}
}

// Ingest is for `findash replay` posting batches to an instance that
// answers 503 (its log is slow or down) or 429 (the key's rate limit): 9
// tries waiting 100 ms doubling to 5 s ride out ~16 s of pressure, then the
// replay stops and says how far it got rather than hammer a sick instance.
func Ingest() Policy {
	return Policy{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2, Jitter: 0.2, Tries: 9}
}

// Feed is for reconnecting to an exchange's WebSocket stream (and for
// re-appending a feed's batch to a log that is down). Exchanges answer a
// burst of reconnects with bans (Binance: HTTP 418/429), so the first wait
// is half a second and the cap 30 s, with jitter so that several instances
// cut off together do not come back in lockstep; a feed retries until its
// context ends, and a session that delivered messages resets the wait.
func Feed() Policy {
	return Policy{Initial: 500 * time.Millisecond, Max: 30 * time.Second, Multiplier: 2, Jitter: 0.2}
}

// BackOff returns a new backoff with p's numbers. It is not safe for
// concurrent use: take one per retry loop.
func (p Policy) BackOff() *backoff.ExponentialBackOff {
	b := &backoff.ExponentialBackOff{
		InitialInterval:     p.Initial,
		RandomizationFactor: p.Jitter,
		Multiplier:          p.Multiplier,
		MaxInterval:         p.Max,
	}
	b.Reset()
	return b
}

// Options returns the options of backoff.Retry for p: a new BackOff, p's
// tries, no limit on the elapsed time (backoff's default of 15 minutes
// would make a loop that must retry "until its context ends" give up), and
// notify (may be nil), called with the error and the wait before each
// retry. An option given after these overrides them (backoff.WithBackOff,
// to keep a handle on the BackOff and Reset it).
func (p Policy) Options(notify backoff.Notify) []backoff.RetryOption {
	opts := []backoff.RetryOption{
		backoff.WithBackOff(p.BackOff()),
		backoff.WithMaxElapsedTime(0),
	}
	if p.Tries > 0 {
		opts = append(opts, backoff.WithMaxTries(p.Tries))
	}
	if notify != nil {
		opts = append(opts, backoff.WithNotify(notify))
	}
	return opts
}
