package testenv

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATSServer is a NATS server with JetStream for one test.
type NATSServer struct {
	// URL is the server's client URL.
	URL string
	// Prefix is a name unique to the test (findash_test_<12 hex digits>),
	// to begin the stream, consumer and KV bucket names and the subjects
	// it creates: on an external server, every stream whose name contains
	// it is deleted when the test ends.
	Prefix string
	// External is true for the server of FINDASH_TEST_NATS_URL, false for
	// an embedded one.
	External bool
}

// NATS returns the external NATS server of FINDASH_TEST_NATS_URL, or, when
// the variable is unset, starts one in the process (on a free loopback
// port, JetStream stored in a temporary directory) that shuts down when tb
// ends. Unlike Postgres and Redis it never skips, since a NATS server can
// always run in-process; with FINDASH_TEST_REQUIRE=1 an unset variable
// fails tb, so that CI tests against the external server it set up.
func NATS(tb testing.TB) NATSServer {
	tb.Helper()
	s := NATSServer{Prefix: "findash_test_" + randomHex()}
	if s.URL = os.Getenv("FINDASH_TEST_NATS_URL"); s.URL != "" {
		s.External = true
		tb.Cleanup(func() { deleteStreams(tb, s.URL, s.Prefix) })
		return s
	}
	if os.Getenv(Require) == "1" {
		tb.Fatalf("FINDASH_TEST_NATS_URL is not set, and %s=1", Require)
	}
	tb.Log("FINDASH_TEST_NATS_URL is not set: using an embedded NATS server")
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, // a free port
		JetStream: true, StoreDir: tb.TempDir(),
		NoLog: true, NoSigs: true,
	})
	if err != nil {
		tb.Fatalf("embedded NATS server: %v", err)
	}
	srv.Start()
	tb.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	if !srv.ReadyForConnections(10 * time.Second) {
		tb.Fatal("embedded NATS server not ready after 10 s")
	}
	s.URL = srv.ClientURL()
	return s
}

// deleteStreams deletes the streams of url whose names contain prefix.
func deleteStreams(tb testing.TB, url, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := nats.Connect(url, nats.Name("findash-testenv-cleanup"))
	if err != nil {
		tb.Errorf("clean up NATS streams %s*: %v", prefix, err)
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Errorf("clean up NATS streams %s*: %v", prefix, err)
		return
	}
	var names []string
	lister := js.StreamNames(ctx)
	for name := range lister.Name() {
		if strings.Contains(name, prefix) {
			names = append(names, name)
		}
	}
	if err := lister.Err(); err != nil {
		tb.Errorf("list NATS streams: %v", err)
	}
	for _, name := range names {
		if err := js.DeleteStream(ctx, name); err != nil {
			tb.Errorf("delete NATS stream %s: %v", name, err)
		}
	}
}
