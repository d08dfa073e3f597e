package bus_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/findash/findash/internal/bus"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/testenv"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// openBus opens an embedded bus on dir, closed when the test ends.
func openBus(t testing.TB, dir string) *bus.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, bus.Config{DataDir: dir}, discard())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { closeBus(t, b) })
	return b
}

func closeBus(t testing.TB, b *bus.Bus) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// backends lists the logs to test: the bus's own in-process server, and a
// server reached over TCP (testenv.NATS: FINDASH_TEST_NATS_URL's, or one
// testenv embeds when it is unset).
func backends(t *testing.T) map[string]func(t *testing.T) *bus.Bus {
	m := map[string]func(t *testing.T) *bus.Bus{
		"embedded": func(t *testing.T) *bus.Bus { return openBus(t, t.TempDir()) },
	}
	m["external"] = func(t *testing.T) *bus.Bus {
		url := testenv.NATS(t).URL
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		b, err := bus.Open(ctx, bus.Config{URL: url}, discard())
		if err != nil {
			t.Fatalf("Open(%q): %v", url, err)
		}
		t.Cleanup(func() { closeBus(t, b) })
		return b
	}
	return m
}

func ticksOf(sym string, n int, ts0 int64) []market.Tick {
	out := make([]market.Tick, n)
	for i := range out {
		out[i] = market.Tick{Symbol: sym, TS: ts0 + int64(i), Price: 100 + float64(i), Size: float64(i % 7)}
	}
	return out
}

type got struct {
	seq   uint64
	ticks []market.Tick
}

// readAll consumes from `from` until it has n ticks.
func readAll(t *testing.T, b *bus.Bus, from uint64, n int) []got {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []got
	total := 0
	errDone := errors.New("done")
	err := b.Consume(ctx, from, func(seq uint64, ticks []market.Tick) error {
		out = append(out, got{seq, append([]market.Tick(nil), ticks...)})
		total += len(ticks)
		if total >= n {
			return errDone
		}
		return nil
	})
	if !errors.Is(err, errDone) {
		t.Fatalf("Consume: %v (got %d of %d ticks)", err, total, n)
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			b := open(t)
			ctx := context.Background()
			start, err := b.LastSeq(ctx)
			if err != nil {
				t.Fatal(err)
			}
			syms := []string{"BTC-USD", "BRK.B", "EUR/USD", "A.B.C", "X_1"}
			var in []market.Tick
			for i, s := range syms {
				in = append(in, ticksOf(s, 3+i, market.MinTS+int64(i)*1000)...)
			}
			if err := b.Append(ctx, in); err != nil {
				t.Fatalf("Append: %v", err)
			}
			msgs := readAll(t, b, start+1, len(in))
			if len(msgs) != len(syms) {
				t.Fatalf("got %d messages, want %d (one per symbol run)", len(msgs), len(syms))
			}
			var out []market.Tick
			for _, m := range msgs {
				for i, tk := range m.ticks {
					if tk.Seq != bus.TickSeq(m.seq, i) || bus.StreamSeq(tk.Seq) != m.seq {
						t.Fatalf("tick %d of message %d has seq %d, want %d", i, m.seq, tk.Seq, bus.TickSeq(m.seq, i))
					}
				}
				out = append(out, m.ticks...)
			}
			// Append sets Seq on its input: the two sides must agree exactly.
			if diff := cmp.Diff(in, out); diff != "" {
				t.Errorf("ticks read differ from ticks appended (-in +out):\n%s", diff)
			}
		})
	}
}

func TestSeqIncreasesPerSymbol(t *testing.T) {
	b := openBus(t, t.TempDir())
	ctx := context.Background()
	const rounds = 20
	syms := []string{"AAPL", "BRK.B", "EUR/USD"}
	for r := 0; r < rounds; r++ {
		var batch []market.Tick
		for _, s := range syms {
			batch = append(batch, ticksOf(s, 1+r%4, market.MinTS+int64(r))...)
		}
		if err := b.Append(ctx, batch); err != nil {
			t.Fatalf("Append round %d: %v", r, err)
		}
	}
	total := 0
	for r := 0; r < rounds; r++ {
		total += len(syms) * (1 + r%4)
	}
	last := map[string]uint64{}
	for _, m := range readAll(t, b, 1, total) {
		for _, tk := range m.ticks {
			if tk.Seq <= last[tk.Symbol] {
				t.Fatalf("%s: seq %d after %d", tk.Symbol, tk.Seq, last[tk.Symbol])
			}
			last[tk.Symbol] = tk.Seq
		}
	}
}

func TestSplitsLargeBatches(t *testing.T) {
	b := openBus(t, t.TempDir())
	in := ticksOf("ETH-USD", bus.MaxTicksPerMessage+10, market.MinTS)
	if err := b.Append(context.Background(), in); err != nil {
		t.Fatalf("Append: %v", err)
	}
	msgs := readAll(t, b, 1, len(in))
	if len(msgs) < 2 {
		t.Fatalf("%d ticks came in %d message(s), want a split", len(in), len(msgs))
	}
	n := 0
	for _, m := range msgs {
		if len(m.ticks) > bus.MaxTicksPerMessage {
			t.Errorf("message %d holds %d ticks", m.seq, len(m.ticks))
		}
		n += len(m.ticks)
	}
	if n != len(in) {
		t.Errorf("read %d ticks, want %d", n, len(in))
	}
}

func TestRestartKeepsMessages(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	b1, err := bus.Open(ctx, bus.Config{DataDir: dir}, discard())
	if err != nil {
		t.Fatal(err)
	}
	in := ticksOf("BRK.B", 5, market.MinTS)
	if err := b1.Append(ctx, in); err != nil {
		t.Fatal(err)
	}
	closeBus(t, b1)

	b2 := openBus(t, dir)
	if seq, err := b2.LastSeq(ctx); err != nil || seq != 1 {
		t.Fatalf("LastSeq after restart = %d, %v; want 1", seq, err)
	}
	msgs := readAll(t, b2, 1, len(in))
	if diff := cmp.Diff(in, msgs[0].ticks); diff != "" {
		t.Errorf("after restart (-want +got):\n%s", diff)
	}
	// New appends continue the sequence.
	more := ticksOf("BRK.B", 1, market.MinTS+10)
	if err := b2.Append(ctx, more); err != nil {
		t.Fatal(err)
	}
	if bus.StreamSeq(more[0].Seq) != 2 {
		t.Errorf("first append after restart got stream seq %d, want 2", bus.StreamSeq(more[0].Seq))
	}
}

func TestSeqAt(t *testing.T) {
	b := openBus(t, t.TempDir())
	ctx := context.Background()
	if seq, err := b.SeqAt(ctx, time.Now()); err != nil || seq != 1 {
		t.Fatalf("SeqAt on an empty log = %d, %v; want 1", seq, err)
	}
	for i := 0; i < 3; i++ {
		if err := b.Append(ctx, ticksOf("AAPL", 1, market.MinTS)); err != nil {
			t.Fatal(err)
		}
	}
	// mid is after the third message's stored time and, the clock being
	// read before the next appends, at or before the fourth's.
	third, err := b.LastTime(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mid := time.Now()
	for !mid.After(third) { // a clock coarser than the appends
		runtime.Gosched()
		mid = time.Now()
	}
	for i := 0; i < 2; i++ {
		if err := b.Append(ctx, ticksOf("AAPL", 1, market.MinTS)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		at   time.Time
		want uint64
	}{
		{"before everything", mid.Add(-time.Hour), 1},
		{"in the middle", mid, 4},
		{"after everything", time.Now().Add(time.Hour), 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := b.SeqAt(ctx, tt.at)
			if err != nil || got != tt.want {
				t.Errorf("SeqAt = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

func TestAppendFailsWhenLogIsDown(t *testing.T) {
	b, err := bus.Open(context.Background(), bus.Config{DataDir: t.TempDir()}, discard())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Check(context.Background()); err != nil {
		t.Fatalf("Check on a healthy log: %v", err)
	}
	closeBus(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err = b.Append(ctx, ticksOf("AAPL", 1, market.MinTS))
	if !errors.Is(err, market.ErrUnavailable) {
		t.Errorf("Append on a closed log = %v, want ErrUnavailable", err)
	}
	if err := b.Check(ctx); !errors.Is(err, market.ErrUnavailable) {
		t.Errorf("Check on a closed log = %v, want ErrUnavailable", err)
	}
}

func TestSubject(t *testing.T) {
	for _, sym := range []string{"BTC-USD", "BRK.B", "EUR/USD", "A.B.C", "X_1", "9"} {
		subj := bus.Subject(sym)
		back, ok := bus.SymbolOf(subj)
		if !ok || back != sym {
			t.Errorf("SymbolOf(Subject(%q) = %q) = %q, %v", sym, subj, back, ok)
		}
		if n := len(subj) - len("findash.ticks."); n != len(sym) {
			t.Errorf("Subject(%q) = %q: token is not one token", sym, subj)
		}
	}
	if _, ok := bus.SymbolOf("findash.quotes.X"); ok {
		t.Error("SymbolOf accepted a foreign subject")
	}
}

func ExampleTickSeq() {
	seq := bus.TickSeq(7, 3)
	fmt.Println(seq, bus.StreamSeq(seq))
	// Output: 458755 7
}

func TestOlderThan(t *testing.T) {
	for _, tt := range []struct {
		v    string
		want bool
	}{{"2.9.10", true}, {"v2.9.25", true}, {"2.10.0", false}, {"2.15.2", false}, {"3.0.0", false},
		{"1.4.1", true}, {"2.10.0-RC.1", false}, {"", false}, {"garbage", false}} {
		if got := bus.OlderThan(tt.v, 2, 10); got != tt.want {
			t.Errorf("OlderThan(%q, 2, 10) = %v, want %v", tt.v, got, tt.want)
		}
	}
}
