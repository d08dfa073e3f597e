package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/findash/findash/internal/ingest"
	"github.com/findash/findash/internal/market"
	"github.com/findash/findash/internal/testenv"
)

// gatedLog is the real log whose first append waits until released, so
// that the publishes behind it must share the next one.
type gatedLog struct {
	ingest.Log
	entered, release chan struct{}
	fail             error // the second append's outcome instead of the log's
	calls            int   // appends made; touched only by the one in flight (MaxInFlight 1)
}

func (l *gatedLog) Append(ctx context.Context, ticks []market.Tick) error {
	l.calls++
	if l.calls == 1 {
		l.entered <- struct{}{}
		<-l.release
	} else if l.fail != nil {
		return l.fail
	}
	return l.Log.Append(ctx, ticks)
}

// joinBehindFirst starts one publish that takes the only slot, then n more
// that must wait; it waits until all n have joined the shared append.
func joinBehindFirst(t *testing.T, p *ingest.Publisher, log *gatedLog, n int) (first chan error, rest []chan error) {
	t.Helper()
	first = make(chan error, 1)
	go func() { first <- p.Publish(context.Background(), []market.Tick{{Symbol: "AAPL", TS: ts0, Price: 100}}) }()
	<-log.entered
	for i := range n {
		ch := make(chan error, 1)
		rest = append(rest, ch)
		tick := []market.Tick{{Symbol: "AAPL", TS: ts0 + int64(i), Price: float64(i + 1)}, {Symbol: fmt.Sprintf("S%d", i%2), TS: ts0, Price: float64(i + 1)}}
		go func() { ch <- p.Publish(context.Background(), tick) }()
		deadline := time.Now().Add(10 * time.Second)
		for p.SharedForTest() != i+1 {
			if time.Now().After(deadline) {
				t.Fatalf("publish %d did not join the shared append", i)
			}
			time.Sleep(time.Millisecond)
		}
	}
	return first, rest
}

// TestPublishSharesAppends: publishes that find every slot taken go into the
// log together — one message per symbol for all of them, each symbol's ticks
// in the order the publishes joined — and each returns once it is stored.
func TestPublishSharesAppends(t *testing.T) {
	b := openBus(t)
	log := &gatedLog{Log: b, entered: make(chan struct{}, 1), release: make(chan struct{})}
	reg := prometheus.NewRegistry()
	p := ingest.NewPublisher(log, ingest.Config{MaxInFlight: 1, Timeout: 20 * time.Second}, discard(), reg)
	first, rest := joinBehindFirst(t, p, log, 4)
	close(log.release)
	for i, ch := range append([]chan error{first}, rest...) {
		if err := <-ch; err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	if log.calls != 2 {
		t.Errorf("%d appends to the log, want 2 (the first alone, the four others shared)", log.calls)
	}
	type msg struct {
		Symbol string
		Prices []float64
	}
	var got []msg
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stop := errors.New("stop")
	err := b.Consume(ctx, 1, func(_ uint64, ticks []market.Tick) error {
		m := msg{Symbol: ticks[0].Symbol}
		for _, tk := range ticks {
			m.Prices = append(m.Prices, tk.Price)
		}
		got = append(got, m)
		if len(got) == 4 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("consume: %v after %v", err, got)
	}
	want := []msg{{"AAPL", []float64{100}}, {"AAPL", []float64{1, 2, 3, 4}}, {"S0", []float64{1, 3}}, {"S1", []float64{2, 4}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log messages (-want +got):\n%s", diff)
	}
	if n := testenv.Counter(t, reg, "findash_ingest_ticks_total"); n != 9 {
		t.Errorf("findash_ingest_ticks_total = %v, want 9", n)
	}
}

// TestPublishSharedFailure: a shared append that fails fails every
// publish in it, with ErrUnavailable.
func TestPublishSharedFailure(t *testing.T) {
	log := &gatedLog{Log: openBus(t), entered: make(chan struct{}, 1), release: make(chan struct{}),
		fail: fmt.Errorf("ack timeout: %w", market.ErrUnavailable)}
	p := ingest.NewPublisher(log, ingest.Config{MaxInFlight: 1, Timeout: 20 * time.Second}, discard(), nil)
	first, rest := joinBehindFirst(t, p, log, 3)
	close(log.release)
	if err := <-first; err != nil {
		t.Fatalf("first publish: %v", err)
	}
	for i, ch := range rest {
		if err := <-ch; !errors.Is(err, market.ErrUnavailable) {
			t.Errorf("publish %d of a failed shared append = %v, want ErrUnavailable", i, err)
		}
	}
}
