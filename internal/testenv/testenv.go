// Package testenv coordinates tests that share the machine's servers and
// ports across test processes (go test runs packages in parallel, each in
// its own process).
//
// It must not import findash's packages, so that any package's tests can use
// it; only tests import it.
package testenv

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

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
