package testenv

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// RegionNATS is an in-process NATS server standing for one region of a
// multi-region test (decision 0036): JetStream in its own domain, a client
// port and a leafnode port on loopback.
type RegionNATS struct {
	Server *server.Server
	// URL is the client URL (nats://127.0.0.1:port).
	URL string
	// LeafAddr is the host:port other regions' servers connect their
	// leafnodes to.
	LeafAddr string
}

// NATSRegion starts a region's NATS server with JetStream domain domain,
// shut down when tb ends. When hub is not empty (host:port, another
// region's LeafAddr or a proxy in front of it) the server links to it as a
// leafnode and keeps reconnecting every 250 ms while the link is down.
// Pings every second (three may be outstanding) make a link that stops
// passing data count as down within about 4 s, where the default would
// take minutes, without dropping a slow link on a loaded machine.
func NATSRegion(tb testing.TB, domain, hub string) RegionNATS {
	tb.Helper()
	opts := &server.Options{
		ServerName: "region-" + domain,
		Host:       "127.0.0.1", Port: -1,
		JetStream: true, JetStreamDomain: domain, StoreDir: tb.TempDir(),
		NoLog: true, NoSigs: true,
		PingInterval: time.Second, MaxPingsOut: 3,
		// NoAdvertise: a region linked through a proxy must not learn the
		// hub's own leafnode address and reconnect around the proxy.
		LeafNode: server.LeafNodeOpts{Host: "127.0.0.1", Port: -1, NoAdvertise: true, ReconnectInterval: 250 * time.Millisecond},
	}
	if hub != "" {
		u, err := url.Parse("nats-leaf://" + hub)
		if err != nil {
			tb.Fatalf("leafnode URL %q: %v", hub, err)
		}
		opts.LeafNode.Remotes = []*server.RemoteLeafOpts{{URLs: []*url.URL{u}, FirstInfoTimeout: time.Second}}
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		tb.Fatalf("region %s NATS server: %v", domain, err)
	}
	srv.Start()
	tb.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	if !srv.ReadyForConnections(10 * time.Second) {
		tb.Fatalf("region %s NATS server not ready after 10 s", domain)
	}
	// Port -1: the server binds a free port and writes it back into opts (no
	// window in which another process could take a port picked beforehand).
	return RegionNATS{Server: srv, URL: srv.ClientURL(), LeafAddr: fmt.Sprintf("127.0.0.1:%d", opts.LeafNode.Port)}
}

// Linked reports whether the server has a leafnode connection up.
func (r RegionNATS) Linked() bool { return r.Server.NumLeafNodes() > 0 }
