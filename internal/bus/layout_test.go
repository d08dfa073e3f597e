package bus_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/findash/findash/internal/bus"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/testenv"
)

// TestLayoutGuard opens one embedded log (one data dir) again and again:
// an instance with another number of partitions than the log's is refused
// at once, with a message naming both counts and the way to change, and
// leaves the log as it was; the explicit change (Repartition from the
// stored count) goes through, and from then on the old count is refused.
func TestLayoutGuard(t *testing.T) {
	dir := t.TempDir()
	open := func(cfg bus.Config) (*bus.Bus, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cfg.DataDir = dir
		return bus.Open(ctx, cfg, discard())
	}
	// opens checks that cfg opens the log, and that it is split into want
	// partitions: a symbol's ticks are read from its partition.
	opens := func(cfg bus.Config, want int) {
		t.Helper()
		b, err := open(cfg)
		if err != nil {
			t.Fatalf("Open(%+v): %v", cfg, err)
		}
		defer closeBus(t, b)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		sym := "LAYOUT-" + strings.Repeat("X", want%7)
		if err := b.Append(ctx, []market.Tick{{Symbol: sym, TS: 1_700_000_000_000, Price: 1, Size: 1}}); err != nil {
			t.Fatal(err)
		}
		if want == 0 {
			return
		}
		seq, err := b.LastSeqOf(ctx, bus.PartitionOfSymbol(sym, want))
		if err != nil || seq == 0 {
			t.Fatalf("after Open(%+v): %s's partition of %d holds nothing (%d, %v): the log is not split into %d", cfg, sym, want, seq, err, want)
		}
	}
	refused := func(cfg bus.Config, stored string) {
		t.Helper()
		start := time.Now()
		b, err := open(cfg)
		if err == nil {
			closeBus(t, b)
			t.Fatalf("Open(%+v) on a log %s succeeded", cfg, stored)
		}
		if !errors.Is(err, bus.ErrLayoutMismatch) || errors.Is(err, market.ErrUnavailable) {
			t.Fatalf("Open(%+v) = %v, want ErrLayoutMismatch (not ErrUnavailable)", cfg, err)
		}
		if !strings.Contains(err.Error(), stored) || !strings.Contains(err.Error(), "--log-partitions-from") {
			t.Errorf("Open(%+v) error %q does not say the log is %s nor how to change it", cfg, err, stored)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("Open(%+v) took %s to refuse: a mismatch was retried", cfg, d)
		}
	}

	opens(bus.Config{Partitions: 8}, 8)
	refused(bus.Config{Partitions: 4}, "split into 8 partitions")
	refused(bus.Config{Partitions: 0}, "split into 8 partitions")
	refused(bus.Config{Partitions: 4, Repartition: true, PartitionsFrom: 0}, "split into 8 partitions")
	opens(bus.Config{Partitions: 8}, 8) // the refusals changed nothing
	opens(bus.Config{Partitions: 4, Repartition: true, PartitionsFrom: 8}, 4)
	refused(bus.Config{Partitions: 8}, "split into 4 partitions")
	opens(bus.Config{Partitions: 4, Repartition: true, PartitionsFrom: 8}, 4) // a change left in the config is harmless
	opens(bus.Config{Partitions: 0, Repartition: true, PartitionsFrom: 4}, 0)
	refused(bus.Config{Partitions: 4}, "unpartitioned (0 partitions)")
}

// TestMirrorLayoutGuard: a mirror region is held to the primary region's
// layout while the primary answers, and to its own recorded one when the
// primary is out of reach (a region must start cut off).
func TestMirrorLayoutGuard(t *testing.T) {
	a := testenv.NATSRegion(t, "a", "")
	b := testenv.NATSRegion(t, "b", a.LeafAddr)
	testenv.Eventually(t, 10*time.Second, b.Linked, "region b's leafnode to a never came up")
	open := func(url, mirror string, n int) (*bus.Bus, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return bus.Open(ctx, bus.Config{URL: url, MirrorDomain: mirror, Partitions: n}, discard())
	}
	logA, err := open(a.URL, "", 8)
	if err != nil {
		t.Fatal(err)
	}
	if l, err := open(b.URL, "a", 4); err == nil || !errors.Is(err, bus.ErrLayoutMismatch) || !strings.Contains(err.Error(), "primary region") {
		if l != nil {
			closeBus(t, l)
		}
		t.Fatalf("mirror with 4 of a primary with 8: %v, want ErrLayoutMismatch naming the primary region", err)
	}
	logB, err := open(b.URL, "a", 8)
	if err != nil {
		t.Fatalf("mirror with 8 of a primary with 8: %v", err)
	}
	closeBus(t, logB)

	// The primary out of reach: the mirror's own record holds.
	closeBus(t, logA)
	a.Server.Shutdown()
	if l, err := open(b.URL, "a", 4); !errors.Is(err, bus.ErrLayoutMismatch) {
		if l != nil {
			closeBus(t, l)
		}
		t.Fatalf("mirror recorded with 8 reopened with 4, primary down: %v, want ErrLayoutMismatch", err)
	}
	logB, err = open(b.URL, "a", 8)
	if err != nil {
		t.Fatalf("mirror reopened with 8, primary down: %v", err)
	}
	closeBus(t, logB)
}

// TestLayoutGuardConcurrentFirstStarts: two instances with different
// counts open a log that does not exist yet, at once: one creates it, the
// other is refused — neither overwrites the other's layout (the stream is
// created with CreateStream, not CreateOrUpdateStream).
func TestLayoutGuardConcurrentFirstStarts(t *testing.T) {
	for i := range 5 {
		srv := testenv.NATSRegion(t, fmt.Sprintf("race%d", i), "")
		type result struct {
			n   int
			b   *bus.Bus
			err error
		}
		res := make(chan result, 2)
		start := make(chan struct{})
		for _, n := range []int{8, 4} {
			go func() {
				<-start
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				b, err := bus.Open(ctx, bus.Config{URL: srv.URL, Partitions: n}, discard())
				res <- result{n, b, err}
			}()
		}
		close(start)
		var opened []int
		for range 2 {
			r := <-res
			switch {
			case r.err == nil:
				opened = append(opened, r.n)
				closeBus(t, r.b)
			case !errors.Is(r.err, bus.ErrLayoutMismatch):
				t.Fatalf("round %d: Open with %d: %v", i, r.n, r.err)
			}
		}
		if len(opened) != 1 {
			t.Fatalf("round %d: %d of the two first starts opened the log (%v), want exactly one", i, len(opened), opened)
		}
	}
}

// TestMirrorLayoutGuardOldPrimary: a primary region's log created before
// the layout was recorded (a transform, no metadata) is read from its
// transform, as a local log is: a mirror with another count is refused.
func TestMirrorLayoutGuardOldPrimary(t *testing.T) {
	a := testenv.NATSRegion(t, "a", "")
	b := testenv.NATSRegion(t, "b", a.LeafAddr)
	testenv.Eventually(t, 10*time.Second, b.Linked, "region b's leafnode to a never came up")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	logA, err := bus.Open(ctx, bus.Config{URL: a.URL, Partitions: 8}, discard())
	if err != nil {
		t.Fatal(err)
	}
	closeBus(t, logA)
	// Make it a log of before the record: the transform alone says 8.
	nc, err := nats.Connect(a.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, bus.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	c := s.CachedInfo().Config
	delete(c.Metadata, bus.LayoutKey)
	if _, err := js.UpdateStream(ctx, c); err != nil {
		t.Fatal(err)
	}
	if l, err := bus.Open(ctx, bus.Config{URL: b.URL, MirrorDomain: "a", Partitions: 4}, discard()); !errors.Is(err, bus.ErrLayoutMismatch) || !strings.Contains(err.Error(), "primary region") {
		if l != nil {
			closeBus(t, l)
		}
		t.Fatalf("mirror with 4 of an old primary split into 8: %v, want ErrLayoutMismatch naming the primary region", err)
	}
	l, err := bus.Open(ctx, bus.Config{URL: b.URL, MirrorDomain: "a", Partitions: 8}, discard())
	if err != nil {
		t.Fatalf("mirror with 8 of an old primary split into 8: %v", err)
	}
	closeBus(t, l)
}
