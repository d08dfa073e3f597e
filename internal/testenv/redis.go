package testenv

import (
	"context"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// RedisServer is the Redis of FINDASH_TEST_REDIS_URL with a key prefix of
// one test's own: every key containing Prefix is deleted when the test ends.
type RedisServer struct {
	URL    string
	Prefix string // "findash:test:<12 hex digits>:"
}

// Redis returns the Redis server of FINDASH_TEST_REDIS_URL and a key prefix
// unique to tb, skipping tb when the variable is unset (failing it when
// FINDASH_TEST_REQUIRE=1). When tb ends (after the cleanups registered
// later, such as closing the test's clients), every key containing the
// prefix is deleted, wherever it sits in the key (a library may prepend its
// own, as redis_rate does with "rate:"). The prefix, not a database number,
// isolates tests: Redis has only 16 databases and a cluster only one.
func Redis(tb testing.TB) RedisServer {
	tb.Helper()
	rawURL := Env(tb, "FINDASH_TEST_REDIS_URL")
	opt, err := goredis.ParseURL(rawURL)
	if err != nil {
		tb.Fatalf("parse FINDASH_TEST_REDIS_URL: %v", err)
	}
	s := RedisServer{URL: rawURL, Prefix: "findash:test:" + randomHex() + ":"}
	tb.Cleanup(func() {
		rdb := goredis.NewClient(opt)
		defer rdb.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		it := rdb.Scan(ctx, 0, "*"+s.Prefix+"*", 100).Iterator()
		for it.Next(ctx) {
			if err := rdb.Del(ctx, it.Val()).Err(); err != nil {
				tb.Errorf("clean up Redis key %s: %v", it.Val(), err)
				return
			}
		}
		if err := it.Err(); err != nil {
			tb.Errorf("clean up Redis keys %s*: %v", s.Prefix, err)
		}
	})
	return s
}
