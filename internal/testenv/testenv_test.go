package testenv_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	goredis "github.com/redis/go-redis/v9"

	"github.com/findash/findash/internal/testenv"
)

// Each call makes a database of its own, reachable at its URL, and gone
// after the test that made it.
func TestPostgres(t *testing.T) {
	admin := testenv.PostgresURL(t)
	var names []string
	t.Run("make", func(t *testing.T) {
		a, b := testenv.Postgres(t), testenv.Postgres(t)
		if a.Name == b.Name || !strings.HasPrefix(a.Name, "findash_test_") {
			t.Fatalf("names %q and %q, want two distinct findash_test_ names", a.Name, b.Name)
		}
		for _, d := range []testenv.Database{a, b} {
			conn, err := pgx.Connect(t.Context(), d.URL)
			if err != nil {
				t.Fatal(err)
			}
			var got string
			err = conn.QueryRow(t.Context(), "SELECT current_database()").Scan(&got)
			conn.Close(context.Background())
			if err != nil || got != d.Name {
				t.Errorf("current_database() on %s = %q, %v; want %q", d.Name, got, err, d.Name)
			}
		}
		names = []string{a.Name, b.Name}
	})
	conn, err := pgx.Connect(t.Context(), admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var left int
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM pg_database WHERE datname = ANY($1)", names).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d of the databases %v left after the test, %v; want 0", left, names, err)
	}
}

// Keys containing the prefix are deleted after the test; others stay.
func TestRedis(t *testing.T) {
	testenv.Env(t, "FINDASH_TEST_REDIS_URL")
	var srv testenv.RedisServer
	t.Run("use", func(t *testing.T) {
		srv = testenv.Redis(t)
		rdb := client(t, srv.URL)
		for _, k := range []string{srv.Prefix + "a", "rate:" + srv.Prefix + "b"} {
			if err := rdb.Set(t.Context(), k, "1", time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
		}
	})
	keys, err := client(t, srv.URL).Keys(t.Context(), "*"+srv.Prefix+"*").Result()
	if err != nil || len(keys) != 0 {
		t.Errorf("keys left after the test: %v, %v", keys, err)
	}
}

func client(t *testing.T, url string) *goredis.Client {
	opt, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := goredis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// A stream named with the prefix works, and is gone after the test on an
// external server (an embedded one goes as a whole).
func TestNATS(t *testing.T) {
	var srv testenv.NATSServer
	t.Run("use", func(t *testing.T) {
		srv = testenv.NATS(t)
		js := jetStream(t, srv.URL)
		_, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: srv.Prefix + "_S", Subjects: []string{srv.Prefix + ".>"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(t.Context(), srv.Prefix+".x", []byte("hi")); err != nil {
			t.Fatal(err)
		}
	})
	if !srv.External {
		return
	}
	if _, err := jetStream(t, srv.URL).Stream(t.Context(), srv.Prefix+"_S"); err == nil {
		t.Errorf("stream %s_S left after the test", srv.Prefix)
	}
}

func jetStream(t *testing.T, url string) jetstream.JetStream {
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func TestWaitFor(t *testing.T) {
	var n atomic.Int32
	if !testenv.WaitFor(time.Second, func() bool { return n.Add(1) == 3 }) {
		t.Errorf("WaitFor: false after %d calls, want true on the 3rd", n.Load())
	}
	n.Store(0)
	if testenv.WaitFor(30*time.Millisecond, func() bool { n.Add(1); return false }) {
		t.Error("WaitFor of a condition never true = true")
	}
	if n.Load() < 2 {
		t.Errorf("condition called %d times in 30 ms, want at least 2 (first and deadline)", n.Load())
	}
}

func TestPoll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var n atomic.Int32
		start := time.Now()
		if !testenv.Poll(time.Second, 100*time.Millisecond, func() bool { return n.Add(1) == 3 }) {
			t.Errorf("Poll: false after %d calls, want true on the 3rd", n.Load())
		}
		if d := time.Since(start); d != 200*time.Millisecond {
			t.Errorf("Poll took %v to its 3rd call, want 200ms (two pauses)", d)
		}
		n.Store(0)
		if testenv.Poll(250*time.Millisecond, 100*time.Millisecond, func() bool { n.Add(1); return false }) {
			t.Error("Poll of a condition never true = true")
		}
		if n.Load() != 4 { // at 0, 100, 200 and the deadline 250 ms
			t.Errorf("condition called %d times in 250 ms every 100 ms, want 4", n.Load())
		}
	})
}
