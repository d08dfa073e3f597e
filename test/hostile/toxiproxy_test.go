package hostile_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// link is a toxiproxy proxy run inside the test process between findash
// and one of its dependencies: the test cuts it, slows it or resets it.
type link struct {
	t *testing.T
	p *toxiproxy.Proxy
	// Addr is the host:port findash dials instead of the dependency's.
	Addr string
}

// newLink starts a proxy named name on a free loopback port in front of
// upstream (host:port); it stops when the test ends.
func newLink(t *testing.T, name, upstream string) *link {
	t.Helper()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, name, "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		t.Fatalf("toxiproxy %s: %v", name, err)
	}
	t.Cleanup(p.Stop)
	return &link{t: t, p: p, Addr: p.Listen}
}

// Down closes the listener and every connection through it (a stopped
// server, or a partition that resets): dials are refused until Up.
func (l *link) Down() { l.p.Stop() }

// Up lets connections through again, on the same address.
func (l *link) Up() {
	l.t.Helper()
	if err := l.p.Start(); err != nil {
		l.t.Fatalf("toxiproxy %s up: %v", l.p.Name, err)
	}
}

// Toxic adds a toxic of type typ (latency, timeout, reset_peer, …) to the
// stream ("upstream" or "downstream") with attrs (JSON object members,
// e.g. `"latency":200`), and returns its name for Remove.
func (l *link) Toxic(typ, stream, attrs string) string {
	l.t.Helper()
	name := fmt.Sprintf("%s_%s", typ, stream)
	_, err := l.p.Toxics.AddToxicJson(strings.NewReader(fmt.Sprintf(
		`{"name":%q,"type":%q,"stream":%q,"toxicity":1,"attributes":{%s}}`, name, typ, stream, attrs)))
	if err != nil {
		l.t.Fatalf("toxiproxy %s: add %s: %v", l.p.Name, name, err)
	}
	return name
}

// Partition makes the link a black hole both ways: connections stay open
// and nothing passes (the timeout toxic with no timeout), like a network
// partition without resets. Heal removes it.
func (l *link) Partition() {
	l.Toxic("timeout", "upstream", `"timeout":0`)
	l.Toxic("timeout", "downstream", `"timeout":0`)
}

// Remove removes the named toxic.
func (l *link) Remove(name string) {
	l.t.Helper()
	if err := l.p.Toxics.RemoveToxic(context.Background(), name); err != nil {
		l.t.Fatalf("toxiproxy %s: remove %s: %v", l.p.Name, name, err)
	}
}

// Heal removes every toxic.
func (l *link) Heal() { l.p.Toxics.ResetToxics(context.Background()) }

// throughLink returns rawURL with its host:port replaced by l's.
func throughLink(t *testing.T, rawURL string, l *link) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("parse URL: %v", err) // the URL may hold a password: not printed
	}
	u.Host = l.Addr
	return u.String()
}

// hostPort is rawURL's host:port.
func hostPort(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("parse URL: %v", err)
	}
	return u.Host
}
