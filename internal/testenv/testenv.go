// Package testenv gives tests the real servers they need, each test its own
// isolated part of them, and coordinates tests that share the machine's
// servers and ports across test processes (go test runs packages in
// parallel, each in its own process).
//
// The servers come from environment variables:
//
//	FINDASH_TEST_POSTGRES_URL          a PostgreSQL server to create throwaway databases on (Postgres)
//	FINDASH_TEST_PGBOUNCER_URL         a PgBouncer (transaction pooling) in front of it (Env)
//	FINDASH_TEST_POSTGRES_REPLICA_URL  a streaming replica of it (Env, LockReplica)
//	FINDASH_TEST_REDIS_URL             a Redis server to use under a unique key prefix (Redis)
//	FINDASH_TEST_NATS_URL              an external NATS server with JetStream (NATS; unset: an embedded one)
//	FINDASH_TEST_REQUIRE=1             a missing server fails the test instead of skipping it (CI)
//
// testenv is imported only by tests: it may reach the drivers of the
// servers it sets up, and must not import findash's packages, so that any
// package's tests can use it (deps_test.go checks both).
package testenv

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Require is the variable that turns a skip for a missing server into a
// failure.
const Require = "FINDASH_TEST_REQUIRE"

// Skip skips tb with the message, or fails it when FINDASH_TEST_REQUIRE=1
// (CI, where a skipped integration test hides a broken environment).
func Skip(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(Require) == "1" {
		tb.Fatalf("%s, and %s=1", msg, Require)
	}
	tb.Skip("skipping: " + msg)
}

// Env returns the value of the environment variable name, skipping tb (or
// failing it, see Skip) when it is unset or empty.
func Env(tb testing.TB, name string) string {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		Skip(tb, "%s is not set", name)
	}
	return v
}

// LockReplica holds the lock on the shared PostgreSQL streaming replica
// (FINDASH_TEST_POSTGRES_REPLICA_URL) until tb ends: shared by tests that
// read through it, exclusive for a test that stops and restarts it. It is an
// flock(2) on a file in the temp dir, so it works across test processes.
func LockReplica(tb testing.TB, exclusive bool) {
	tb.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "findash-test-replica.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		tb.Fatalf("open replica lock: %v", err)
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		tb.Fatalf("lock replica: %v", err)
	}
	tb.Cleanup(func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	})
}

// FreePort returns a loopback TCP port that was free a moment ago, for a
// server started as another process (which must bind it itself; another
// process could take it first, and the test then fails at that start).
func FreePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
