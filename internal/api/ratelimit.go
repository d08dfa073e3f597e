package api

import (
	"context"
	"hash/maphash"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter decides whether the request counted under key may proceed at
// limit l. It returns ok, or how long to wait before retrying. A shared
// implementation (Redis GCRA) lets every instance count together.
type Limiter interface {
	Allow(ctx context.Context, key string, l Limit) (ok bool, retryAfter time.Duration, err error)
}

const limiterShards = 32

// LocalLimiter is the in-process Limiter: a token bucket per key
// (golang.org/x/time/rate), in 32 shards.
//
// Bound and overflow. It holds at most about max keys. When a shard is full
// it forgets the buckets that are full again (a full bucket is the same as a
// new one, so nothing is lost); if that frees less than a quarter of the
// shard, it forgets the whole shard, briefly letting those clients burst again.
type LocalLimiter struct {
	now      func() time.Time
	perShard int
	seed     maphash.Seed
	shards   [limiterShards]limiterShard
}

type limiterShard struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

// NewLocalLimiter returns a LocalLimiter of about max keys on clock now
// (nil: time.Now).
func NewLocalLimiter(max int, now func() time.Time) *LocalLimiter {
	if now == nil {
		now = time.Now
	}
	l := &LocalLimiter{now: now, perShard: max/limiterShards + 1, seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].m = make(map[string]*rate.Limiter)
	}
	return l
}

// Allow implements Limiter. It never fails.
func (l *LocalLimiter) Allow(_ context.Context, key string, lim Limit) (bool, time.Duration, error) {
	now := l.now()
	rl := l.bucket(key, lim, now)
	r := rl.ReserveN(now, 1)
	if !r.OK() { // burst < 1: never allowed
		return false, time.Second, nil
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d, nil
	}
	return true, 0, nil
}

// Fail implements FailureLimiter. It never fails. A failure over the
// limit already (counted elsewhere meanwhile) is not counted.
func (l *LocalLimiter) Fail(_ context.Context, key string, lim Limit) (time.Duration, error) {
	now := l.now()
	rl := l.bucket(key, lim, now)
	r := rl.ReserveN(now, 1)
	if !r.OK() { // burst < 1: never another
		return time.Hour, nil
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, nil
	}
	if t := rl.TokensAt(now); t < 1 {
		if !(lim.Rate > 0) {
			return time.Hour, nil // no refill
		}
		return time.Duration(math.Ceil((1 - t) / lim.Rate * float64(time.Second))), nil
	}
	return 0, nil
}

// bucket returns key's token bucket, made at lim if new.
func (l *LocalLimiter) bucket(key string, lim Limit, now time.Time) *rate.Limiter {
	s := &l.shards[maphash.String(l.seed, key)%limiterShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	rl := s.m[key]
	if rl == nil {
		if len(s.m) >= l.perShard {
			s.evict(now)
		}
		rl = rate.NewLimiter(rate.Limit(lim.Rate), lim.Burst)
		s.m[key] = rl
	}
	return rl
}

// evict is called with s.mu held.
func (s *limiterShard) evict(now time.Time) {
	n := len(s.m)
	for k, rl := range s.m {
		if rl.TokensAt(now) >= float64(rl.Burst()) {
			delete(s.m, k)
		}
	}
	if len(s.m) > n*3/4 {
		clear(s.m)
	}
}

// limit answers 429 and reports false when the client of class (read,
// ingest) counted under key is over lim. A limiter error lets the request
// through: limits protect the service, they must not take it down.
func (a *API) limit(w http.ResponseWriter, r *http.Request, class, key string, lim Limit) bool {
	if lim.Rate < 0 {
		return true
	}
	ok, retry, err := a.limiter.Allow(r.Context(), class+":"+key, lim)
	if err != nil {
		a.logFor(w).LogAttrs(r.Context(), slog.LevelWarn, "rate limiter failed; request let through", slog.Any("err", err))
		return true
	}
	if ok {
		return true
	}
	a.m.rateLimited.WithLabelValues(class).Inc()
	a.writeError(w, r, errRateLimited(int(math.Ceil(max(retry.Seconds(), 1)))))
	return false
}

// limitRead wraps a read handler with the per-IP read limit.
func (a *API) limitRead(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.limit(w, r, "read", a.clientIP(r), a.cfg.ReadLimit) {
			h(w, r)
		}
	}
}

// clientIP is the client's key for the per-IP limits: the peer's
// address, or with Config.TrustProxy the last X-Forwarded-For entry (the
// one the load balancer appended). An IPv6 client is its /64, as for the
// connection caps (internal/connlimit): one host is usually given a whole
// /64, and counting its addresses apart would give it 2^64 budgets. An
// IPv4-mapped address is its IPv4 address.
func (a *API) clientIP(r *http.Request) string {
	if a.cfg.TrustProxy {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			last := xff[len(xff)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if ip := strings.TrimSpace(last); ip != "" {
				return clientKey(ip)
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return clientKey(r.RemoteAddr)
	}
	return clientKey(host)
}

// clientKey is the key of address s: an IPv4 address, or an IPv6 /64 in
// canonical form; s itself when it is not an address.
func clientKey(s string) string {
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Is4() {
		return s // an IPv4 address parses only as written: no copy per request
	}
	ip = ip.Unmap()
	if !ip.Is6() {
		return ip.String()
	}
	p, _ := ip.WithZone("").Prefix(64)
	return p.String()
}
