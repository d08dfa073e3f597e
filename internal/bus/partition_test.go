package bus_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/findash/findash/internal/bus"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/testenv"
)

func openPartitioned(t *testing.T, n int) *bus.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, bus.Config{DataDir: t.TempDir(), Partitions: n}, discard())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { closeBus(t, b) })
	return b
}

var errEnough = errors.New("enough")

// TestPartitionsSplitBySymbol: with 4 partitions, every tick is read from
// exactly one partition, a symbol never from two, each symbol's ticks in
// log order, and the symbols spread over every partition.
func TestPartitionsSplitBySymbol(t *testing.T) {
	const parts, symbols, batches = 4, 40, 5
	b := openPartitioned(t, parts)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	total := 0
	for k := range batches {
		var ticks []market.Tick
		for s := range symbols {
			for i := range 3 {
				ticks = append(ticks, market.Tick{Symbol: fmt.Sprintf("S%02d.X", s), TS: int64(1_700_000_000_000 + k*1000 + i), Price: 100, Size: 1})
			}
		}
		if err := b.Append(ctx, ticks); err != nil {
			t.Fatal(err)
		}
		total += len(ticks)
	}
	seen := map[string]int{}    // symbol -> partition
	last := map[string]uint64{} // symbol -> last seq
	count := 0
	perPart := make([]int, parts)
	for p := range parts {
		pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
		err := b.ConsumePartitions(pctx, []int{p}, 1, func(_ uint64, ticks []market.Tick) error {
			for _, tk := range ticks {
				if q, ok := seen[tk.Symbol]; ok && q != p {
					return fmt.Errorf("%s read from partitions %d and %d", tk.Symbol, q, p)
				}
				seen[tk.Symbol] = p
				if q := bus.PartitionOfSymbol(tk.Symbol, parts); q != p {
					return fmt.Errorf("%s read from partition %d, PartitionOfSymbol says %d", tk.Symbol, p, q)
				}
				if tk.Seq <= last[tk.Symbol] {
					return fmt.Errorf("%s: seq %d after %d", tk.Symbol, tk.Seq, last[tk.Symbol])
				}
				last[tk.Symbol] = tk.Seq
				count++
				perPart[p]++
			}
			return nil
		})
		pcancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("partition %d: %v", p, err)
		}
	}
	if count != total || len(seen) != symbols {
		t.Fatalf("read %d ticks of %d symbols from the partitions, want %d of %d", count, len(seen), total, symbols)
	}
	for p, n := range perPart {
		if n == 0 {
			t.Errorf("partition %d holds nothing (%v): the transform does not spread symbols", p, perPart)
		}
	}
	t.Logf("ticks per partition: %v", perPart)
	// LastSeqOf is each partition's newest message; together they are the
	// log's newest.
	var newest uint64
	for p := range parts {
		last, err := b.LastSeqOf(ctx, p)
		if err != nil || last == 0 {
			t.Fatalf("LastSeqOf(%d) = %d, %v", p, last, err)
		}
		newest = max(newest, last)
	}
	if ls, err := b.LastSeq(ctx); err != nil || ls != newest {
		t.Errorf("LastSeq() = %d, %v; the partitions' newest is %d", ls, err, newest)
	}
	// The unpartitioned reader (live feed, gateway) still reads everything.
	all := 0
	err := b.Consume(ctx, 1, func(_ uint64, ticks []market.Tick) error {
		all += len(ticks)
		if all >= total {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) || all != total {
		t.Fatalf("Consume read %d ticks (%v), want %d", all, err, total)
	}
}

// TestLeaseExpiresAndFences: a held lease refuses another worker; once its
// holder stops renewing it passes to the other within the TTL (plus the
// server's expiry pass), and the former holder's renewal is refused — its
// revision is stale.
func TestLeaseExpiresAndFences(t *testing.T) {
	b := openBus(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l, err := b.OpenLeases(ctx, "TEST_LEASES", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	revA, err := l.Acquire(ctx, "p0", "worker-a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Acquire(ctx, "p0", "worker-b"); !errors.Is(err, bus.ErrLeaseHeld) {
		t.Fatalf("second Acquire = %v, want ErrLeaseHeld", err)
	}
	if revA, err = l.Renew(ctx, "p0", "worker-a", revA); err != nil {
		t.Fatalf("Renew by the holder: %v", err)
	}
	// worker-a stops renewing (as a killed worker does).
	t0 := time.Now()
	var revB uint64
	if !testenv.WaitFor(10*time.Second, func() bool {
		revB, err = l.Acquire(ctx, "p0", "worker-b")
		return err == nil
	}) {
		t.Fatalf("worker-b never acquired the expired lease: %v", err)
	}
	took := time.Since(t0)
	t.Logf("lease passed after %v (ttl 1s)", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("lease passed after %v, want within a few TTLs", took)
	}
	if h, _ := l.Holder(ctx, "p0"); h != "worker-b" {
		t.Fatalf("holder = %q, want worker-b", h)
	}
	if _, err := l.Renew(ctx, "p0", "worker-a", revA); !errors.Is(err, bus.ErrLeaseHeld) {
		t.Fatalf("stale Renew = %v, want ErrLeaseHeld (fenced)", err)
	}
	if err := l.Release(ctx, "p0", revB); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Acquire(ctx, "p0", "worker-a"); err != nil {
		t.Fatalf("Acquire after Release = %v, want it free at once", err)
	}
}

func TestPartitionOf(t *testing.T) {
	for subj, want := range map[string]int{"findash.ticks.3.AAPL": 3, "findash.ticks.0.BTC-USD": 0} {
		if p, ok := bus.PartitionOf(subj); !ok || p != want {
			t.Errorf("PartitionOf(%q) = %d, %v", subj, p, ok)
		}
		if s, ok := bus.SymbolOf(subj); !ok || s == "" {
			t.Errorf("SymbolOf(%q) = %q, %v", subj, s, ok)
		}
	}
	if _, ok := bus.PartitionOf("findash.ticks.AAPL"); ok {
		t.Error("an unpartitioned subject has a partition")
	}
	if s, _ := bus.SymbolOf("findash.ticks.2.BRK~B"); s != "BRK.B" {
		t.Errorf("SymbolOf(partitioned BRK~B) = %q", s)
	}
}
