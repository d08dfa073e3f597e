package bus_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/findash/findash/internal/bus"
	"github.com/findash/findash/internal/market"
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
