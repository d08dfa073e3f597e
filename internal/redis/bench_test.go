package redis_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/findash/findash/internal/redis"
	"github.com/findash/findash/internal/testenv"
)

// BenchmarkCacheGet measures an L2 hit of a 200-byte value: one GET round
// trip through the breaker.
func BenchmarkCacheGet(b *testing.B) {
	r := testenv.Redis(b)
	c := openClient(b, r.URL, redis.Config{Prefix: r.Prefix}, nil)
	val := make([]byte, 200)
	if err := c.Set(b.Context(), "hot", val, time.Minute); err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if _, ok, err := c.Get(b.Context(), "hot"); !ok || err != nil {
				b.Fatalf("Get = %v, %v", ok, err)
			}
		}
	})
	b.Run("parallel16", func(b *testing.B) {
		b.SetParallelism(8) // 8 per GOMAXPROCS: 16 goroutines on 2 cores
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, ok, err := c.Get(b.Context(), "hot"); !ok || err != nil {
					b.Errorf("Get = %v, %v", ok, err)
					return
				}
			}
		})
	})
}

// BenchmarkAllow measures one GCRA decision (EVALSHA round trip), over
// 1,000 keys so that most calls are allowed.
func BenchmarkAllow(b *testing.B) {
	r := testenv.Redis(b)
	c := openClient(b, r.URL, redis.Config{Prefix: r.Prefix}, nil)
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = "read:10.0." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256)
	}
	b.Run("serial", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, _, err := c.Allow(b.Context(), keys[i%len(keys)], 1000, 100); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("parallel16", func(b *testing.B) {
		b.SetParallelism(8) // 8 per GOMAXPROCS: 16 goroutines on 2 cores
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, _, err := c.Allow(b.Context(), keys[i%len(keys)], 1000, 100); err != nil {
					b.Errorf("Allow: %v", err)
					return
				}
				i++
			}
		})
	})
}
