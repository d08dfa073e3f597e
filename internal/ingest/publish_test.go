package ingest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/findash/findash/internal/bus"
	"github.com/findash/findash/internal/ingest"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/testenv"
)

var _ ingest.Log = (*bus.Bus)(nil)

func openBus(t *testing.T) *bus.Bus {
	t.Helper()
	b, err := bus.Open(context.Background(), bus.Config{DataDir: t.TempDir()}, discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b.Close(ctx)
	})
	return b
}

func TestPublishGroupsBySymbol(t *testing.T) {
	b := openBus(t)
	reg := prometheus.NewRegistry()
	p := ingest.NewPublisher(b, ingest.Config{}, discard(), reg)
	in := []market.Tick{
		{Symbol: "AAPL", TS: ts0, Price: 1},
		{Symbol: "BRK.B", TS: ts0, Price: 2},
		{Symbol: "AAPL", TS: ts0 - 5, Price: 3}, // out of event order: log order is kept
		{Symbol: "EUR/USD", TS: ts0, Price: 4},
		{Symbol: "BRK.B", TS: ts0 + 1, Price: 5},
	}
	orig := append([]market.Tick(nil), in...)
	if err := p.Publish(context.Background(), in); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if diff := cmp.Diff(orig, in); diff != "" {
		t.Errorf("Publish modified its input (-before +after):\n%s", diff)
	}
	type msg struct {
		Seq    uint64
		Prices []float64
	}
	var got []msg
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stop := errors.New("stop")
	err := b.Consume(ctx, 1, func(seq uint64, ticks []market.Tick) error {
		m := msg{Seq: seq}
		for _, tk := range ticks {
			m.Prices = append(m.Prices, tk.Price)
		}
		got = append(got, m)
		if len(got) == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatal(err)
	}
	want := []msg{{1, []float64{1, 3}}, {2, []float64{2, 5}}, {3, []float64{4}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log messages (-want +got):\n%s", diff)
	}
	if n := testenv.Counter(t, reg, "findash_ingest_ticks_total"); n != 5 {
		t.Errorf("findash_ingest_ticks_total = %v, want 5", n)
	}
}

func TestPublishLogDown(t *testing.T) {
	b := openBus(t)
	p := ingest.NewPublisher(b, ingest.Config{Timeout: time.Second}, discard(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	err := p.Publish(ctx, []market.Tick{{Symbol: "AAPL", TS: ts0, Price: 1}})
	if !errors.Is(err, market.ErrUnavailable) {
		t.Errorf("Publish with the log down = %v, want ErrUnavailable", err)
	}
}

// stuckLog does not acknowledge until released: it stands for a log that
// is too slow, which a real server cannot be made to be on demand.
type stuckLog struct{ entered, release chan struct{} }

func (l stuckLog) Append(ctx context.Context, _ []market.Tick) error {
	l.entered <- struct{}{}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-l.release:
		return nil
	}
}

func TestPublishBackPressure(t *testing.T) {
	log := stuckLog{entered: make(chan struct{}, 10), release: make(chan struct{})}
	p := ingest.NewPublisher(log, ingest.Config{MaxInFlight: 2, Timeout: 10 * time.Second}, discard(), nil)
	tick := []market.Tick{{Symbol: "AAPL", TS: ts0, Price: 1}}
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- p.Publish(context.Background(), tick) }()
	}
	<-log.entered
	<-log.entered
	// Both slots are taken: the next caller waits, then gives up with 503.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := p.Publish(ctx, tick); !errors.Is(err, market.ErrUnavailable) {
		t.Errorf("Publish with every slot taken = %v, want ErrUnavailable", err)
	}
	if n := len(log.entered); n != 0 {
		t.Errorf("a caller beyond MaxInFlight reached the log")
	}
	close(log.release)
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("Publish once the log caught up = %v", err)
		}
	}
}

// BenchmarkPublishOneTick is a POST of one tick's publish on the embedded
// log, with the API's ingest deadline on its context.
func BenchmarkPublishOneTick(b *testing.B) {
	bs, err := bus.Open(context.Background(), bus.Config{DataDir: b.TempDir()}, discard())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		bs.Close(ctx)
	})
	p := ingest.NewPublisher(bs, ingest.Config{}, discard(), nil)
	ticks := []market.Tick{{Symbol: "AAPL", TS: ts0, Price: 1, Size: 1}}
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := p.Publish(ctx, ticks); err != nil {
			b.Fatal(err)
		}
		cancel()
	}
}
