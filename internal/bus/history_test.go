package bus_test

import (
	"context"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/findash/findash/internal/bus"
	"github.com/findash/findash/internal/market"
)

// TestTicksAfter reads one symbol's ticks back from the log after a seq, as
// the gateway does for a client behind its replay ring.
func TestTicks(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			b := open(t)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			ts0 := time.Now().UnixMilli()
			// Symbols of this run only: an external server keeps earlier
			// runs' ticks in the shared stream.
			run := strings.ToUpper(strconv.FormatInt(time.Now().UnixNano(), 36))
			sym, other := "H-"+run+"-"+strings.ToUpper(name), "O-"+run+"-"+strings.ToUpper(name)
			for i := range 5 {
				batch := append(ticksOf(sym, 10, ts0+int64(i)*10), ticksOf(other, 3, ts0)...)
				if err := b.Append(ctx, batch); err != nil {
					t.Fatal(err)
				}
			}
			all, lost, err := b.Ticks(ctx, sym, 0, math.MaxUint64, 1000)
			if err != nil || lost != 0 || len(all) != 50 {
				t.Fatalf("Ticks(0) = %d ticks, lost %d, %v; want 50, 0, nil", len(all), lost, err)
			}
			for i, tk := range all {
				if tk.Symbol != sym || i > 0 && tk.Seq <= all[i-1].Seq {
					t.Fatalf("tick %d = %+v after seq %d: not %s in seq order", i, tk, all[i-1].Seq, sym)
				}
			}
			// From the middle of a message: only what follows it, at least
			// as many as asked.
			after := all[14].Seq
			got, lost, err := b.Ticks(ctx, sym, after, math.MaxUint64, 3)
			if err != nil || lost != 0 || len(got) < 3 || got[0].Seq != all[15].Seq {
				t.Fatalf("Ticks(%d, 3) = %v, lost %d, %v; want from seq %d", after, got, lost, err, all[15].Seq)
			}
			if got, _, _ := b.Ticks(ctx, sym, all[49].Seq, math.MaxUint64, 10); len(got) != 0 {
				t.Fatalf("Ticks(the last) = %v, want none", got)
			}
			// Up to until: the messages after its own are not read.
			if got, _, _ := b.Ticks(ctx, sym, 0, all[12].Seq, 1000); len(got) != 20 {
				t.Fatalf("Ticks(0, %d) = %d ticks, want the 20 of the first two messages", all[12].Seq, len(got))
			}
		})
	}
}

// TestTicksAfterLost: ticks the log's retention dropped are reported as
// lost, not skipped in silence.
func TestTicksLost(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, bus.Config{DataDir: t.TempDir(), MaxBytes: 4 << 10}, discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeBus(t, b) })
	ts0 := time.Now().UnixMilli()
	for i := range 100 {
		if err := b.Append(ctx, ticksOf("LOST", 2, ts0+int64(i)*2)); err != nil {
			t.Fatal(err)
		}
	}
	got, lost, err := b.Ticks(ctx, "LOST", 0, math.MaxUint64, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if lost == 0 || len(got) == 0 || len(got) >= 200 || got[0].Seq <= lost || bus.StreamSeq(lost+1) != bus.StreamSeq(got[0].Seq) {
		t.Fatalf("Ticks(0) = %d ticks from seq %d, lost %d; want the held ones, after what was dropped", len(got), firstSeq(got), lost)
	}
}

func firstSeq(ts []market.Tick) uint64 {
	if len(ts) == 0 {
		return 0
	}
	return ts[0].Seq
}
